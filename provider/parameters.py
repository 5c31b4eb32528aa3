"""Parameter declarations shared by several algorithms, so names and defaults never drift."""
from qgis.core import (QgsProcessingParameterCrs, QgsProcessingParameterEnum, QgsProcessingParameterExtent,
                       QgsProcessingParameterFeatureSource, QgsProcessingParameterFile,
                       QgsProcessingParameterField, QgsProcessingParameterNumber,
                       QgsProcessingParameterRasterDestination, QgsProcessingParameterRasterLayer,
                       QgsProcessingParameterString)

import re

from ..core.onnx_runtime import DEVICES, available_cores
from .compat import FIELD_ANY, FIELD_NUMERIC, FLAG_ADVANCED, GEOMETRY_POINT, NUMBER_DOUBLE, NUMBER_INTEGER, SOURCE_POINT

DEFAULT_UNITS = "µg/m³"
# Field names a value field defaults to, best first, compared without case and punctuation
# ("PM2.5", "pm2_5" and "pm25" are one name): never a station id that happens to be numeric.
VALUE_FIELD_NAMES = ("pm25", "pm10", "no2", "o3", "so2", "value", "concentration", "conc")


def add_date_field(alg, parent="INPUT"):
    """DATE_FIELD: one point layer holding many days in long format (optional)."""
    alg.addParameter(QgsProcessingParameterField(
        "DATE_FIELD", alg.tr("Date field (optional: one layer holding many days, long format)"),
        parentLayerParameterName=parent, type=FIELD_ANY, optional=True))


def add_station_grid_parameters(alg, field_help="Measured value (e.g. PM2.5)"):
    """INPUT, FIELD, EXTENT, PIXEL_SIZE, TARGET_CRS, UNITS: every station -> grid method."""
    alg.addParameter(QgsProcessingParameterFeatureSource(
        "INPUT", alg.tr("Station points"), [SOURCE_POINT]))
    add_value_field(alg, "FIELD", field_help, parent="INPUT")
    add_grid_parameters(alg)
    alg.addParameter(QgsProcessingParameterString(
        "UNITS", alg.tr("Units of the field (for the layer name)"), defaultValue=DEFAULT_UNITS, optional=True))


def _simple(name):
    return re.sub(r"[^a-z0-9]", "", name.lower())


def preferred_value_field(field_names):
    """The field of ``field_names`` named most like a pollutant (VALUE_FIELD_NAMES), or None."""
    by_name = {}
    for name in field_names:
        by_name.setdefault(_simple(name), name)
    return next((by_name[n] for n in VALUE_FIELD_NAMES if n in by_name), None)


def _project_value_field():
    """The preferred value field among the point layers of the open project, else 'pm25'.

    QGIS builds a new algorithm instance for each dialog, so the default follows the layers
    the user has; a field parameter's default is a name, and a name absent from the chosen
    layer leaves QGIS's own choice."""
    from qgis.core import QgsProject, QgsVectorLayer

    for layer in QgsProject.instance().mapLayers().values():
        if isinstance(layer, QgsVectorLayer) and layer.geometryType() == GEOMETRY_POINT:
            numeric = [f.name() for f in layer.fields() if f.isNumeric()]
            found = preferred_value_field(numeric)
            if found:
                return found
    return VALUE_FIELD_NAMES[0]


def add_value_field(alg, name, description, parent, optional=False):
    """A numeric field of the point layer ``parent``, defaulting to a pollutant-like name."""
    alg.addParameter(QgsProcessingParameterField(
        name, alg.tr(description), defaultValue=_project_value_field(), parentLayerParameterName=parent,
        type=FIELD_NUMERIC, optional=optional))


def add_grid_parameters(alg):
    alg.addParameter(QgsProcessingParameterExtent(
        "EXTENT", alg.tr("Output extent (default: the input's)"), optional=True))
    alg.addParameter(QgsProcessingParameterNumber(
        "PIXEL_SIZE", alg.tr("Pixel size in target CRS units (default: 256 cells on the longer side)"),
        NUMBER_DOUBLE, defaultValue=None, optional=True))
    alg.addParameter(QgsProcessingParameterCrs(
        "TARGET_CRS", alg.tr("Output CRS (default: the extent's)"), optional=True))


def add_raster_input(alg, description="Input raster"):
    alg.addParameter(QgsProcessingParameterRasterLayer("INPUT", alg.tr(description)))


def add_raster_output(alg, name="OUTPUT", description="Output raster", optional=False):
    param = QgsProcessingParameterRasterDestination(name, alg.tr(description), optional=optional,
                                                    createByDefault=not optional)
    alg.addParameter(param)


def add_factor(alg, description):
    alg.addParameter(QgsProcessingParameterNumber(
        "FACTOR", alg.tr(description), NUMBER_INTEGER, defaultValue=3, minValue=2,
        maxValue=16))


def add_device(alg):
    """DEVICE, and the advanced THREADS of ONNX Runtime beside it (every model algorithm has both)."""
    # Optional (default auto) so a graphical-model child or a script need not set it.
    alg.addParameter(QgsProcessingParameterEnum(
        "DEVICE", alg.tr("Device"), options=list(DEVICES), defaultValue=DEVICES.index("auto"), optional=True))
    add_threads(alg)


def add_threads(alg):
    param = QgsProcessingParameterNumber(
        "THREADS", alg.tr("CPU threads for the model (0 = the cores QGIS may use)"),
        NUMBER_INTEGER, defaultValue=0, optional=True, minValue=0)
    param.setFlags(param.flags() | FLAG_ADVANCED)
    alg.addParameter(param)


def default_threads():
    """The cores QGIS may use: its 'max threads' setting (Settings > Options > Rendering), else
    every core this process may run on."""
    from qgis.core import QgsApplication

    limit, cores = QgsApplication.maxThreads(), available_cores()
    return max(1, min(limit, cores) if limit and limit > 0 else cores)


def threads_choice(alg, parameters, context):
    """THREADS as an int; absent, empty or 0 means ``default_threads()``."""
    if parameters.get("THREADS") in (None, ""):
        return default_threads()
    return alg.parameterAsInt(parameters, "THREADS", context) or default_threads()


def device_choice(alg, parameters, context):
    """'auto', 'cpu' or 'cuda'; no value (absent or None) means auto."""
    if parameters.get("DEVICE") is None:
        return "auto"
    return DEVICES[alg.parameterAsEnum(parameters, "DEVICE", context)]


def add_model_file(alg, name="MODEL", description="Model file (.onnx; default: the shipped model)"):
    """An optional .onnx file parameter (a user-trained model instead of the shipped one)."""
    alg.addParameter(QgsProcessingParameterFile(name, alg.tr(description), extension="onnx", optional=True))


def model_path(alg, parameters, context, name="MODEL"):
    """The chosen model file, or None for the shipped model."""
    return alg.parameterAsFile(parameters, name, context) or None
