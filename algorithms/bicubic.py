"""airmap:bicubic — bicubic ×FACTOR in space (the spatial downscaling baseline).

Streamed: each band is read by windows and written by row strips (core bicubic_windows), so
memory stays at one window row of the output whatever the raster size."""
from ..core.baselines.bicubic import bicubic_windows
from ..provider.parameters import add_factor, add_raster_input, add_raster_output
from .raster_method import RasterRefineAlgorithm


class BicubicAlgorithm(RasterRefineAlgorithm):
    ALG_ID = "bicubic"
    DISPLAY_NAME = "Bicubic downscaling (baseline)"
    GROUP_ID = "baselines"
    METHOD_LABEL = "bicubic"
    HELP = ("Splits every cell FACTOR x FACTOR by bicubic (cubic convolution) interpolation; the output "
            "covers exactly the input's extent. No-data cells stay no-data; all bands are processed, "
            "band by band and window by window, so any raster size runs in bounded memory.")

    def initAlgorithm(self, config=None):  # noqa: N802
        add_raster_input(self, "Coarse raster (all bands)")
        add_factor(self, "Spatial factor")
        add_raster_output(self, "OUTPUT", "Downscaled raster")

    def streamed_output(self, reader, parameters, context):
        return reader.grid.refined(self.parameterAsInt(parameters, "FACTOR", context)), reader.band_names

    def refine_into(self, reader, write, parameters, context, feedback):
        factor = self.parameterAsInt(parameters, "FACTOR", context)
        progress = self.progress(feedback)
        minima = [reader.minimum(b) for b in range(1, reader.count + 1)]
        height, width = reader.grid.shape
        for b in range(reader.count):
            bicubic_windows(lambda win, b=b: reader.read(b + 1, win), height, width, factor,
                            lambda r0, rows, b=b: write(b, r0, rows), non_negative=bool(minima[b] >= 0),
                            progress=progress.sub(b / reader.count, (b + 1) / reader.count))
