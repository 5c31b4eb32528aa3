"""airmap:lineartime — linear interpolation in time between bands (the temporal baseline).

Streamed: window by window, two input bands at a time, each output band's rows written as made."""
from ..core.baselines.lineartime import linear_in_time_frames
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

    def streamed_output(self, reader, parameters, context):
        return reader.grid, refine_times(reader.band_names, self.parameterAsInt(parameters, "FACTOR", context))

    def refine_into(self, reader, write, parameters, context, feedback):
        # Window by window (256 full-width rows), two input bands at a time within it.
        factor = self.parameterAsInt(parameters, "FACTOR", context)
        progress = self.progress(feedback)
        for window in reader.row_windows(256):
            progress.set(window[0] / reader.grid.height)
            linear_in_time_frames(lambda i, w=window: reader.read(i + 1, w), reader.count, factor,
                                  lambda band, rows, r0=window[0]: write(band, r0, rows))
