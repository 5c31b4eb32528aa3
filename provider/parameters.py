"""Parameter declarations shared by several algorithms, so names and defaults never drift."""
from qgis.core import (QgsProcessing, QgsProcessingParameterCrs, QgsProcessingParameterDefinition,
                       QgsProcessingParameterEnum,
                       QgsProcessingParameterExtent, QgsProcessingParameterFeatureSource, QgsProcessingParameterFile,
                       QgsProcessingParameterField, QgsProcessingParameterNumber,
                       QgsProcessingParameterRasterDestination, QgsProcessingParameterRasterLayer,
                       QgsProcessingParameterString)

from ..core.onnx_runtime import DEVICES, available_cores

DEFAULT_UNITS = "µg/m³"


def add_station_grid_parameters(alg, field_help="Measured value (e.g. PM2.5)"):
    """INPUT, FIELD, EXTENT, PIXEL_SIZE, TARGET_CRS, UNITS: every station -> grid method."""
    alg.addParameter(QgsProcessingParameterFeatureSource(
        "INPUT", alg.tr("Station points"), [QgsProcessing.TypeVectorPoint]))
    alg.addParameter(QgsProcessingParameterField(
        "FIELD", alg.tr(field_help), parentLayerParameterName="INPUT",
        type=QgsProcessingParameterField.Numeric))
    add_grid_parameters(alg)
    alg.addParameter(QgsProcessingParameterString(
        "UNITS", alg.tr("Units of the field (for the layer name)"), defaultValue=DEFAULT_UNITS, optional=True))


def add_grid_parameters(alg):
    alg.addParameter(QgsProcessingParameterExtent(
        "EXTENT", alg.tr("Output extent (default: the input's)"), optional=True))
    alg.addParameter(QgsProcessingParameterNumber(
        "PIXEL_SIZE", alg.tr("Pixel size in target CRS units (default: 256 cells on the longer side)"),
        QgsProcessingParameterNumber.Double, defaultValue=None, optional=True))
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
        "FACTOR", alg.tr(description), QgsProcessingParameterNumber.Integer, defaultValue=3, minValue=2,
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
        QgsProcessingParameterNumber.Integer, defaultValue=0, optional=True, minValue=0)
    param.setFlags(param.flags() | QgsProcessingParameterDefinition.FlagAdvanced)
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
