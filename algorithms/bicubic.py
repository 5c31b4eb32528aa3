"""airmap:bicubic — bicubic ×FACTOR in space (the spatial downscaling baseline)."""
from ..core.baselines import bicubic
from ..provider.parameters import add_factor, add_raster_input, add_raster_output
from .raster_method import RasterRefineAlgorithm


class BicubicAlgorithm(RasterRefineAlgorithm):
    ALG_ID = "bicubic"
    DISPLAY_NAME = "Bicubic downscaling (baseline)"
    GROUP_ID = "baselines"
    METHOD_LABEL = "bicubic"
    HELP = ("Splits every cell FACTOR x FACTOR by bicubic (cubic convolution) interpolation; the output "
            "covers exactly the input's extent. No-data cells stay no-data; all bands are processed.")

    def initAlgorithm(self, config=None):  # noqa: N802
        add_raster_input(self, "Coarse raster (all bands)")
        add_factor(self, "Spatial factor")
        add_raster_output(self, "OUTPUT", "Downscaled raster")

    def refine(self, raster, parameters, context, feedback):
        factor = self.parameterAsInt(parameters, "FACTOR", context)
        progress = self.progress(feedback)
        progress.set(0.0)
        out = bicubic(raster.data, factor)
        progress.set(1.0)
        return out, raster.grid.refined(factor), raster.band_names
