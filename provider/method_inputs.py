"""Inputs a station method may take beyond the stations it maps: covariate rasters (DEM,
URBAN), meteorological station layers (RH_*, WIND_*) and a MODEL file.

airmap:pointconv and airmap:crossvalidate both declare them with these functions and read
them into the core options of ``core.station_methods`` (``covariates``, ``met_stations``,
``model_path``, ``device``), so the parameter names, descriptions and checks cannot drift
between the algorithm that runs a method and the one that cross-validates it.
"""
from qgis.core import (QgsProcessingParameterFeatureSource, QgsProcessingParameterField,
                       QgsProcessingParameterRasterLayer)

from ..core.errors import AirmapInputError
from .compat import FIELD_NUMERIC, SOURCE_POINT
from .layers import qgs_crs, read_raster_layer, read_stations
from .parameters import add_model_file, device_choice, model_path

# (parameter prefix, core name, layer description, field description)
MET_LAYERS = (("RH", "rh", "Relative-humidity stations (another network allowed)", "Relative humidity field (%)"),
              ("WIND", "wind_speed", "Wind-speed stations (another network allowed)", "Wind speed field (m/s)"))
# (parameter name, core name, description)
COVARIATE_RASTERS = (("DEM", "dem", "Elevation raster in m"),
                     ("URBAN", "urban", "Urban fraction raster, 0-1"))
MODEL_DESCRIPTION = "Model file (empty = shipped model chosen from the inputs)"


def add_met_station_parameters(alg):
    """RH_INPUT / RH_FIELD and WIND_INPUT / WIND_FIELD, all optional."""
    for key, _, layer_label, field_label in MET_LAYERS:
        alg.addParameter(QgsProcessingParameterFeatureSource(
            f"{key}_INPUT", alg.tr(layer_label), [SOURCE_POINT], optional=True))
        alg.addParameter(QgsProcessingParameterField(
            f"{key}_FIELD", alg.tr(field_label), parentLayerParameterName=f"{key}_INPUT",
            type=FIELD_NUMERIC, optional=True))


def add_covariate_parameters(alg):
    """DEM and URBAN rasters, optional; resampled to the grid by the method."""
    for key, _, label in COVARIATE_RASTERS:
        alg.addParameter(QgsProcessingParameterRasterLayer(key, alg.tr(label), optional=True))


def add_model_parameter(alg, description=MODEL_DESCRIPTION):
    add_model_file(alg, "MODEL", description)


def met_station_sources(alg, parameters, context):
    """(name, source, field) of each meteorological station layer given; one without its field is
    refused with the parameter to set."""
    for key, name, layer_label, _ in MET_LAYERS:
        source = alg.parameterAsSource(parameters, f"{key}_INPUT", context)
        if source is None:
            continue
        field = alg.parameterAsString(parameters, f"{key}_FIELD", context)
        if not field:
            raise AirmapInputError(f"{layer_label.split(' (')[0]} were given without a field: set {key}_FIELD.")
        yield name, source, field


def read_met_stations(alg, parameters, context, grid, feedback=None):
    """{'rh': Stations, 'wind_speed': Stations} for the layers given, in the grid's CRS."""
    return {name: read_stations(source, field, qgs_crs(grid.crs), context, feedback)
            for name, source, field in met_station_sources(alg, parameters, context)}


def read_covariates(alg, parameters, context, feedback=None):
    """{'dem': Raster, 'urban': Raster} for the rasters given (the method resamples them)."""
    out = {}
    for key, name, _ in COVARIATE_RASTERS:
        layer = alg.parameterAsRasterLayer(parameters, key, context)
        if layer is not None:
            out[name] = read_raster_layer(layer, feedback)
    return out


def read_method_options(alg, parameters, context, grid, feedback=None):
    """Every method option the user set, as ``core.station_methods`` names them. Unset ones
    are left out (DEVICE 'auto' is the default, so it counts as unset)."""
    options = {"covariates": read_covariates(alg, parameters, context, feedback),
               "met_stations": read_met_stations(alg, parameters, context, grid, feedback),
               "model_path": model_path(alg, parameters, context)}
    device = device_choice(alg, parameters, context)
    if device != "auto":
        options["device"] = device
    return {k: v for k, v in options.items() if v}


class ProgressFeedback:
    """What read_stations / read_raster_layer use of a QgsProcessingFeedback (pushInfo), for
    code that holds a core Progress instead."""

    def __init__(self, progress):
        self._progress = progress

    def pushInfo(self, message):  # noqa: N802
        self._progress.info(message)
