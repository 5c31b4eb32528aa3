"""airmap:deepcams — the DeepCAMS chain: XVFI ×3 in time, then ABPN ×3 in space.

T bands of H × W in, 3(T−1)+1 bands of 3H × 3W out (the input grid with each cell split 3 × 3,
inserted times computed), in the order the paper found best (time first, then space).
"""
from ..core.deepcams import deepcams, output_band_names
from ..core.frame_interp import load_xvfi
from ..core.superres import SCALE, load_abpn
from ..provider.parameters import (add_device, add_model_file, add_raster_input, add_raster_output, device_choice,
                                   model_path, threads_choice)
from .abpn import add_conserve, add_tile, conserve_choice, optional_int, report_model
from .raster_method import RasterRefineAlgorithm


class DeepCamsAlgorithm(RasterRefineAlgorithm):
    ALG_ID = "deepcams"
    DISPLAY_NAME = "DeepCAMS ×3 time and ×3 space (XVFI then ABPN)"
    GROUP_ID = "deep"
    METHOD_LABEL = "DeepCAMS x3 time x3 space"
    HELP = ("Turns a coarse time stack (bands = time steps, e.g. 3-hourly 0.75° CAMS) into a stack "
            "three times finer in time and in space (hourly 0.25°): XVFI creates two frames between "
            "each pair, then ABPN splits every cell 3 x 3. T bands in, 3(T-1)+1 out; band names "
            "that are time stamps get the inserted times; no-data stays no-data. "
            "CONSERVE: ABPN keeps each input cell's mean (see airmap:abpn). DEVICE: auto, cpu or cuda.")

    def initAlgorithm(self, config=None):  # noqa: N802
        add_raster_input(self, "Coarse time stack (bands = time steps)")
        add_raster_output(self, "OUTPUT", "Downscaled stack (x3 time, x3 space)")
        add_device(self)
        add_model_file(self, "MODEL_TIME", "XVFI model (.onnx; default: the shipped model)")
        add_model_file(self, "MODEL_SPACE", "ABPN model (.onnx; default: the shipped model)")
        add_tile(self, "TILE", "ABPN tile size in input cells (default: the model card's)")
        add_conserve(self)

    def streamed_output(self, reader, parameters, context):
        return reader.grid.refined(SCALE), output_band_names(reader.band_names)

    def refine_into(self, reader, write, parameters, context, feedback):
        # Read by band and window; XVFI's frames go to a temporary GeoTIFF that ABPN reads back.
        from ..core.band_source import ReaderBands

        device, threads = device_choice(self, parameters, context), threads_choice(self, parameters, context)
        xvfi = load_xvfi(model_path(self, parameters, context, "MODEL_TIME"), device, threads)
        abpn = load_abpn(model_path(self, parameters, context, "MODEL_SPACE"), device, threads)
        report_model(feedback, xvfi, "XVFI")
        report_model(feedback, abpn, "ABPN")
        deepcams(ReaderBands(reader), xvfi, abpn, progress=self.progress(feedback),
                 tile_space=optional_int(self, parameters, "TILE", context),
                 conserve=conserve_choice(self, parameters, context), sink=write)
