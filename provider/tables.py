"""Writing metric tables and per-station results to Processing feature sinks."""
from qgis.core import (QgsCoordinateReferenceSystem, QgsFeature, QgsFeatureSink, QgsField, QgsFields,
                       QgsGeometry, QgsPointXY)

from ..core.metrics import METRIC_NAMES
from .compat import FIELD_DOUBLE, FIELD_INT, FIELD_STRING, WKB_NO_GEOMETRY, WKB_POINT


def metric_fields(extra=()):
    fields = QgsFields()
    for name in extra:
        fields.append(QgsField(name, FIELD_STRING))
    for name in METRIC_NAMES:
        fields.append(QgsField(name, FIELD_INT if name == "N" else FIELD_DOUBLE))
    return fields


def write_metric_rows(alg, parameters, context, name, rows, extra=()):
    """rows: list of (extra values tuple, metrics dict). Returns the sink's destination id."""
    fields = metric_fields(extra)
    sink, dest = alg.parameterAsSink(parameters, name, context, fields, WKB_NO_GEOMETRY,
                                     QgsCoordinateReferenceSystem())
    if sink is None:
        return None
    for labels, metrics in rows:
        f = QgsFeature(fields)
        f.setAttributes(list(labels) + [int(metrics["N"])] +
                        [None if metrics[k] != metrics[k] else float(metrics[k]) for k in METRIC_NAMES[1:]])
        sink.addFeature(f, QgsFeatureSink.Flag.FastInsert)
    return dest


def write_station_rows(alg, parameters, context, name, crs, x, y, columns):
    """Points with numeric columns {name: array}. Returns the sink's destination id."""
    fields = QgsFields()
    for col, values in columns.items():
        fields.append(QgsField(col, FIELD_INT if values.dtype.kind in "iu" else FIELD_DOUBLE))
    sink, dest = alg.parameterAsSink(parameters, name, context, fields, WKB_POINT, crs)
    if sink is None:
        return None
    for i in range(len(x)):
        f = QgsFeature(fields)
        f.setGeometry(QgsGeometry.fromPointXY(QgsPointXY(float(x[i]), float(y[i]))))
        f.setAttributes([int(v[i]) if v.dtype.kind in "iu" else (None if v[i] != v[i] else float(v[i]))
                         for v in columns.values()])
        sink.addFeature(f, QgsFeatureSink.Flag.FastInsert)
    return dest
