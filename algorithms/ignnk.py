"""airmap:ignnk — station time series -> series at unobserved places or hourly rasters, IGNNK
(inductive graph neural network kriging), SPIN's baseline."""
from .series_method import SeriesModelAlgorithm


class IgnnkAlgorithm(SeriesModelAlgorithm):
    ALG_ID = "ignnk"
    DISPLAY_NAME = "IGNNK graph kriging of station series (PM2.5)"
    METHOD = "ignnk"
    USES_WIND = False
    HELP = ("Infers hourly series at places without a station with IGNNK (Wu et al., AAAI 2021): diffusion graph "
            "convolutions over a Gaussian distance graph built from the coordinates at run time, applied to "
            "24-hour windows. Same inputs and outputs as airmap:spin; IGNNK does not use wind (wind parameters "
            "are accepted and ignored).\n\n"
            "INPUT is a point layer in long format (one feature per station and time). Outputs: OUTPUT_POINTS at "
            "TARGETS (target_id, time, value) and/or OUTPUT, an hourly GeoTIFF (band descriptions = ISO times).")
