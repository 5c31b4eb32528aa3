"""airmap:lineartime — linear interpolation in time between bands (the temporal baseline)."""
from ..core.baselines import linear_in_time
from ..core.timestamps import refine_times
from ..provider.parameters import add_factor, add_raster_input, add_raster_output
from .raster_method import RasterRefineAlgorithm


class LinearTimeAlgorithm(RasterRefineAlgorithm):
    ALG_ID = "lineartime"
    DISPLAY_NAME = "Linear interpolation in time (baseline)"
    GROUP_ID = "baselines"
    METHOD_LABEL = "linear in time"
    HELP = ("Treats the bands as time steps and inserts FACTOR-1 linearly blended frames between each "
            "pair: T bands in, FACTOR*(T-1)+1 bands out. Band names that are time stamps get the "
            "inserted times.")

    def initAlgorithm(self, config=None):  # noqa: N802
        add_raster_input(self, "Time stack (bands = time steps)")
        add_factor(self, "Temporal factor")
        add_raster_output(self, "OUTPUT", "Interpolated stack")

    def refine(self, raster, parameters, context, feedback):
        factor = self.parameterAsInt(parameters, "FACTOR", context)
        out = linear_in_time(raster.data, factor)
        return out, raster.grid, refine_times(raster.band_names, factor)
