"""airmap:finetunexvfi — adapt the XVFI ×3-in-time model to the user's time stack (keep every
third frame, or true pairs with REFERENCE); writes a new .onnx for airmap:xvfi's MODEL."""
from .finetune_common import COMMON_HELP, RasterFinetuneAlgorithm


class FinetuneXvfiAlgorithm(RasterFinetuneAlgorithm):
    ALG_ID = "finetunexvfi"
    DISPLAY_NAME = "Fine-tune XVFI ×3 in time on your time stack"
    FAMILY = "xvfi"
    MODULE = "xvfi"
    HELP = ("Adapts the XVFI x3-in-time model to your own time stack, self-supervised. INPUT: a raster whose "
            "bands are consecutive time steps (at least 7). Without REFERENCE the model sees frames i and i+3 and "
            "learns the two between, at your stack's own interval; airmap:xvfi then applies it one level down. "
            "REFERENCE (optional): the same grid at 3 x the time resolution (3(T-1)+1 bands), when you have true "
            "pairs. The last windows in time are held back and scored through airmap:xvfi's own path before and "
            "after, beside linear interpolation." + COMMON_HELP)
    INPUT_LABEL = "Time stack (bands = consecutive time steps)"
    REFERENCE_LABEL = "Reference stack at 3 x the time resolution (optional, true pairs)"
    DEFAULT_MODEL = ("frame_interp", "DEFAULT_XVFI")
