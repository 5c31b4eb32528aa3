"""Writing metric tables and per-station results to Processing feature sinks."""
from qgis.core import (QgsCoordinateReferenceSystem, QgsFeature, QgsFeatureSink, QgsField, QgsFields,
                       QgsGeometry, QgsPointXY, QgsWkbTypes)
from qgis.PyQt.QtCore import QVariant

from ..core.metrics import METRIC_NAMES


def metric_fields(extra=()):
    fields = QgsFields()
    for name in extra:
        fields.append(QgsField(name, QVariant.String))
    for name in METRIC_NAMES:
        fields.append(QgsField(name, QVariant.Int if name == "N" else QVariant.Double))
    return fields


def write_metric_rows(alg, parameters, context, name, rows, extra=()):
    """rows: list of (extra values tuple, metrics dict). Returns the sink's destination id."""
    fields = metric_fields(extra)
    sink, dest = alg.parameterAsSink(parameters, name, context, fields, QgsWkbTypes.NoGeometry,
                                     QgsCoordinateReferenceSystem())
    if sink is None:
        return None
    for labels, metrics in rows:
        f = QgsFeature(fields)
        f.setAttributes(list(labels) + [int(metrics["N"])] +
                        [None if metrics[k] != metrics[k] else float(metrics[k]) for k in METRIC_NAMES[1:]])
        sink.addFeature(f, QgsFeatureSink.FastInsert)
    return dest


def write_station_rows(alg, parameters, context, name, crs, x, y, columns):
    """Points with numeric columns {name: array}. Returns the sink's destination id."""
    fields = QgsFields()
    for col, values in columns.items():
        fields.append(QgsField(col, QVariant.Int if values.dtype.kind in "iu" else QVariant.Double))
    sink, dest = alg.parameterAsSink(parameters, name, context, fields, QgsWkbTypes.Point, crs)
    if sink is None:
        return None
    for i in range(len(x)):
        f = QgsFeature(fields)
        f.setGeometry(QgsGeometry.fromPointXY(QgsPointXY(float(x[i]), float(y[i]))))
        f.setAttributes([int(v[i]) if v.dtype.kind in "iu" else (None if v[i] != v[i] else float(v[i]))
                         for v in columns.values()])
        sink.addFeature(f, QgsFeatureSink.FastInsert)
    return dest
