"""airmap:finetuneabpn — adapt the ABPN ×3 model to the user's rasters (self-similarity, or
true pairs with REFERENCE); writes a new .onnx for airmap:abpn's MODEL."""
from .finetune_common import COMMON_HELP, RasterFinetuneAlgorithm


class FinetuneAbpnAlgorithm(RasterFinetuneAlgorithm):
    ALG_ID = "finetuneabpn"
    DISPLAY_NAME = "Fine-tune ABPN ×3 on your rasters"
    FAMILY = "abpn"
    MODULE = "abpn"
    HELP = ("Adapts the ABPN x3 super-resolution model to your own rasters, self-supervised. INPUT: a raster "
            "whose every band is a sample (e.g. a coarse reanalysis stack). Without REFERENCE each band is averaged "
            "3 x 3 and the model learns to recover the band from its averages (coarse -> finer one level up), which "
            "it then applies one level down in airmap:abpn. REFERENCE (optional): the same bands at 3 x the "
            "resolution, when you have true pairs. The last rows of every band are held back and scored through "
            "airmap:abpn's own path before and after." + COMMON_HELP)
    INPUT_LABEL = "Rasters to learn from (every band a sample)"
    REFERENCE_LABEL = "Reference at 3 x the resolution (optional, true pairs)"
    DEFAULT_MODEL = ("superres", "DEFAULT_ABPN")
