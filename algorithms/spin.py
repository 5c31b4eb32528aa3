"""airmap:spin — station time series + wind -> series at unobserved places or hourly rasters,
SPIN (physics-guided spatiotemporal kriging: diffusion and advection graph kernels)."""
from .series_method import SeriesModelAlgorithm


class SpinAlgorithm(SeriesModelAlgorithm):
    ALG_ID = "spin"
    DISPLAY_NAME = "SPIN spatiotemporal kriging of station series (PM2.5)"
    METHOD = "spin"
    HELP = ("Infers hourly series at places without a station from the station series around them (SPIN, "
            "arXiv 2511.16013): a temporal convolutional network encodes each station's recent history, then two "
            "graph kernels propagate it, diffusion on distance and advection on the wind (upwind stations weigh "
            "more, by wind speed and direction against each station pair's bearing).\n\n"
            "INPUT is a point layer in long format (one feature per station and time: FIELD, TIME_FIELD, optional "
            "STATION_FIELD). Wind: a station layer in the same format (WIND_SPEED_FIELD + WIND_DIRECTION_FIELD in "
            "degrees or compass points, or WIND_U_FIELD + WIND_V_FIELD), or u/v raster stacks. Without wind, or where "
            "it is unknown, only the diffusion kernel acts (the log says where).\n\n"
            "Outputs: OUTPUT_POINTS, the series at TARGETS (target_id, time, value: play it with the temporal "
            "controller), and/or OUTPUT, an hourly GeoTIFF over EXTENT/PIXEL_SIZE (band descriptions = ISO times). "
            "START/END limit the period. The shipped model was trained on the Beijing AQI-36 network "
            "(models/spin/README.md); compare it with the baselines on your network with "
            "airmap:crossvalidateseries.")
