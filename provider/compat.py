"""QGIS enums and field types that moved between the supported QGIS versions, resolved once.

Each name takes the newer API where this QGIS has it and the older one otherwise: QGIS 3.22 has
only the class-scoped enums and ``QVariant.Type`` field types; QGIS 3.30-3.38 moved them to
``Qgis.*`` enums and ``QMetaType.Type`` (the old names stay as deprecated aliases, which QGIS 4
on Qt 6 drops). Everything is fully scoped, as Qt 6 requires (tests/test_qt6_ready.py).
"""
from qgis.core import (Qgis, QgsColorRampShader, QgsFeatureRequest, QgsProcessing, QgsProcessingParameterDefinition,
                       QgsProcessingParameterField, QgsProcessingParameterNumber, QgsWkbTypes)


def _newer(name, older):
    """``Qgis.<Enum>.<Member>`` for name "Enum.Member" when this QGIS has it, else ``older()``
    (a function, so an old name is never looked up where it no longer exists)."""
    enum_name, member = name.split(".")
    enum = getattr(Qgis, enum_name, None)
    return getattr(enum, member) if enum is not None else older()


SOURCE_POINT = _newer("ProcessingSourceType.VectorPoint", lambda: QgsProcessing.SourceType.TypeVectorPoint)
SOURCE_VECTOR = _newer("ProcessingSourceType.Vector", lambda: QgsProcessing.SourceType.TypeVector)
NUMBER_INTEGER = _newer("ProcessingNumberParameterType.Integer",
                        lambda: QgsProcessingParameterNumber.Type.Integer)
NUMBER_DOUBLE = _newer("ProcessingNumberParameterType.Double", lambda: QgsProcessingParameterNumber.Type.Double)
FIELD_NUMERIC = _newer("ProcessingFieldParameterDataType.Numeric",
                       lambda: QgsProcessingParameterField.DataType.Numeric)
FIELD_ANY = _newer("ProcessingFieldParameterDataType.Any", lambda: QgsProcessingParameterField.DataType.Any)
FLAG_ADVANCED = _newer("ProcessingParameterFlag.Advanced",
                       lambda: QgsProcessingParameterDefinition.Flag.FlagAdvanced)
GEOMETRY_POINT = _newer("GeometryType.Point", lambda: QgsWkbTypes.GeometryType.PointGeometry)
WKB_POINT = _newer("WkbType.Point", lambda: QgsWkbTypes.Type.Point)
WKB_NO_GEOMETRY = _newer("WkbType.NoGeometry", lambda: QgsWkbTypes.Type.NoGeometry)
REQUEST_NO_FLAGS = _newer("FeatureRequestFlag.NoFlags", lambda: QgsFeatureRequest.Flag.NoFlags)
SHADER_LINEAR = _newer("ShaderInterpolationMethod.Linear", lambda: QgsColorRampShader.Type.Interpolated)

# Field types: QgsField takes (and QgsField.type() returns) QMetaType.Type from QGIS 3.38; the
# QVariant.Type constructor is deprecated there and QVariant.Type does not exist in Qt 6.
if Qgis.versionInt() >= 33800:
    from qgis.PyQt.QtCore import QMetaType

    _TYPES, _STRING = QMetaType.Type, QMetaType.Type.QString
else:
    from qgis.PyQt.QtCore import QVariant

    _TYPES, _STRING = QVariant.Type, QVariant.Type.String
FIELD_STRING, FIELD_INT, FIELD_DOUBLE = _STRING, _TYPES.Int, _TYPES.Double
FIELD_DATETIME = _TYPES.QDateTime if Qgis.versionInt() >= 33800 else _TYPES.DateTime
NUMERIC_FIELD_TYPES = (_TYPES.Int, _TYPES.UInt, _TYPES.LongLong, _TYPES.ULongLong, _TYPES.Double)
