"""Parameter declarations shared by several algorithms, so names and defaults never drift."""
from qgis.core import (QgsProcessingParameterCrs, QgsProcessingParameterEnum, QgsProcessingParameterExtent,
                       QgsProcessingParameterFeatureSource, QgsProcessingParameterFile,
                       QgsProcessingParameterField, QgsProcessingParameterNumber,
                       QgsProcessingParameterRasterDestination, QgsProcessingParameterRasterLayer,
                       QgsProcessingParameterString)

from ..core.onnx_runtime import DEVICES
from .compat import FIELD_NUMERIC, NUMBER_DOUBLE, NUMBER_INTEGER, SOURCE_POINT

DEFAULT_UNITS = "µg/m³"


def add_station_grid_parameters(alg, field_help="Measured value (e.g. PM2.5)"):
    """INPUT, FIELD, EXTENT, PIXEL_SIZE, TARGET_CRS, UNITS: every station -> grid method."""
    alg.addParameter(QgsProcessingParameterFeatureSource(
        "INPUT", alg.tr("Station points"), [SOURCE_POINT]))
    alg.addParameter(QgsProcessingParameterField(
        "FIELD", alg.tr(field_help), parentLayerParameterName="INPUT",
        type=FIELD_NUMERIC))
    add_grid_parameters(alg)
    alg.addParameter(QgsProcessingParameterString(
        "UNITS", alg.tr("Units of the field (for the layer name)"), defaultValue=DEFAULT_UNITS, optional=True))


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
    # Optional (default auto) so a graphical-model child or a script need not set it.
    alg.addParameter(QgsProcessingParameterEnum(
        "DEVICE", alg.tr("Device"), options=list(DEVICES), defaultValue=DEVICES.index("auto"), optional=True))


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
