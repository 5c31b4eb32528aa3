"""airmap:xvfi — XVFI ×3 interpolation in time (DeepCAMS T-SR): bands are time steps.

Same grid and band rules as airmap:lineartime: T bands in, 3(T−1)+1 out on the input grid,
the input bands unchanged, inserted band names get the inserted times.
"""
from ..core.frame_interp import FACTOR, interpolate_frames, load_xvfi
from ..core.timestamps import refine_times
from ..provider.parameters import (add_device, add_model_file, add_raster_input, add_raster_output, device_choice,
                                   model_path, threads_choice)
from .abpn import add_tile, optional_int, report_model
from .raster_method import RasterRefineAlgorithm


class XvfiAlgorithm(RasterRefineAlgorithm):
    ALG_ID = "xvfi"
    DISPLAY_NAME = "XVFI ×3 interpolation in time (DeepCAMS)"
    GROUP_ID = "deep"
    METHOD_LABEL = "XVFI x3 in time"
    HELP = ("Video-frame interpolation network XVFI (DeepCAMS configuration, trained on the airmap "
            "simulator): treats the bands as time steps and creates two frames between each pair "
            "(at 1/3 and 2/3): T bands in, 3(T-1)+1 out, input bands unchanged. Band names that are "
            "time stamps get the inserted times. An inserted cell is no-data where either "
            "neighbouring frame is. MODEL: another XVFI .onnx; DEVICE: auto, cpu or cuda.")

    def initAlgorithm(self, config=None):  # noqa: N802
        add_raster_input(self, "Time stack (bands = time steps)")
        add_raster_output(self, "OUTPUT", "Interpolated stack (x3 in time)")
        add_device(self)
        add_model_file(self, "MODEL", "XVFI model (.onnx; default: the shipped model)")
        add_tile(self, "TILE", "Tile size in cells (default: the model card's)")

    def streamed_output(self, reader, parameters, context):
        return reader.grid, refine_times(reader.band_names, FACTOR)

    def refine_into(self, reader, write, parameters, context, feedback):
        # Frames are read pair by pair and window by window (the one normaliser for all frames
        # from streaming passes); every output band is written tile row by tile row.
        from ..core.band_source import ReaderBands

        model = load_xvfi(model_path(self, parameters, context), device_choice(self, parameters, context),
                          threads_choice(self, parameters, context))
        report_model(feedback, model, "XVFI")
        interpolate_frames(ReaderBands(reader), model, FACTOR, tile=optional_int(self, parameters, "TILE", context),
                           progress=self.progress(feedback), sink=write)
