"""Station time series in QGIS: the parameters of the series algorithms (airmap:spin,
airmap:ignnk, airmap:crossvalidateseries), reading long-format point layers and wind into core
objects, and writing long-format outputs the temporal controller can play.

Long format: one feature per station and time, with the value FIELD, a TIME_FIELD (date/time,
date or ISO text) and optionally a STATION_FIELD (else the geometry tells stations apart).
"""
import math
from datetime import datetime, timedelta, timezone

import numpy as np
from qgis.core import (QgsCoordinateReferenceSystem, QgsCoordinateTransform, QgsFeature, QgsFeatureSink,
                       QgsField, QgsFields, QgsGeometry, QgsPointXY, QgsProcessingParameterDateTime, QgsProcessingParameterFeatureSink,
                       QgsProcessingParameterFeatureSource, QgsProcessingParameterField,
                       QgsProcessingParameterNumber, QgsProcessingParameterRasterLayer, QgsWkbTypes)
from qgis.PyQt.QtCore import QDate, QDateTime, Qt, QVariant

from ..core.errors import AirmapInputError
from ..core.timeseries.series import series_from_records
from ..core.timeseries.times import parse_time
from ..core.timeseries.wind import Wind, direction_degrees, interpolate_met, sample_stack, wind_uv
from .layers import numeric_field_index, read_raster_layer, require_valid_crs
from .compat import (FIELD_DATETIME, FIELD_DOUBLE, FIELD_NUMERIC, FIELD_STRING, GEOMETRY_POINT, NUMBER_DOUBLE,
                     SOURCE_POINT, WKB_POINT)

WGS84 = QgsCoordinateReferenceSystem("EPSG:4326")
WIND_FIELDS = ("WIND_TIME_FIELD", "WIND_SPEED_FIELD", "WIND_DIRECTION_FIELD", "WIND_U_FIELD", "WIND_V_FIELD")


# --- parameters ----------------------------------------------------------------------------

def add_series_parameters(alg, field_help="Measured value (e.g. PM2.5)"):
    """INPUT, FIELD, TIME_FIELD, STATION_FIELD (optional)."""
    alg.addParameter(QgsProcessingParameterFeatureSource(
        "INPUT", alg.tr("Station series (points, one feature per station and time)"), [SOURCE_POINT]))
    alg.addParameter(QgsProcessingParameterField(
        "FIELD", alg.tr(field_help), parentLayerParameterName="INPUT", type=FIELD_NUMERIC))
    alg.addParameter(QgsProcessingParameterField(
        "TIME_FIELD", alg.tr("Time field (date/time, date or ISO text)"), parentLayerParameterName="INPUT"))
    alg.addParameter(QgsProcessingParameterField(
        "STATION_FIELD", alg.tr("Station id field (default: stations told apart by location)"),
        parentLayerParameterName="INPUT", optional=True))


def add_wind_parameters(alg):
    """WIND_INPUT + its fields (speed and direction, or u and v), or WIND_U_RASTER/WIND_V_RASTER."""
    alg.addParameter(QgsProcessingParameterFeatureSource(
        "WIND_INPUT", alg.tr("Wind stations (points, long format; optional)"), [SOURCE_POINT],
        optional=True))
    labels = {"WIND_TIME_FIELD": "Wind time field", "WIND_SPEED_FIELD": "Wind speed field (m/s)",
              "WIND_DIRECTION_FIELD": "Wind direction field (degrees or compass points, where it blows from)",
              "WIND_U_FIELD": "Wind u field (eastward, m/s)", "WIND_V_FIELD": "Wind v field (northward, m/s)"}
    for name in WIND_FIELDS:
        alg.addParameter(QgsProcessingParameterField(name, alg.tr(labels[name]), parentLayerParameterName="WIND_INPUT",
                                                     optional=True))
    alg.addParameter(QgsProcessingParameterRasterLayer(
        "WIND_U_RASTER", alg.tr("Wind u raster stack (bands = times; optional)"), optional=True))
    alg.addParameter(QgsProcessingParameterRasterLayer(
        "WIND_V_RASTER", alg.tr("Wind v raster stack (bands = times; optional)"), optional=True))
    alg.addParameter(QgsProcessingParameterNumber(
        "WIND_RASTER_STEP", alg.tr("Hours between wind raster bands when their descriptions are not times "
                                   "(the first band is START)"), NUMBER_DOUBLE,
        defaultValue=1.0, minValue=0.0001, optional=True))


def add_time_range(alg):
    alg.addParameter(QgsProcessingParameterDateTime("START", alg.tr("Start (default: the series' first time)"),
                                                    optional=True))
    alg.addParameter(QgsProcessingParameterDateTime("END", alg.tr("End (default: the series' last time)"),
                                                    optional=True))


# --- reading -------------------------------------------------------------------------------

def qt_time(value):
    """A QDateTime / QDate / text attribute -> datetime (aware when Qt knows its zone) or text."""
    if value is None or (isinstance(value, QVariant) and value.isNull()):
        return None
    if isinstance(value, QDateTime):
        if not value.isValid():
            return None
        naive = value.toPyDateTime().replace(tzinfo=None)
        spec = value.timeSpec()
        if spec == Qt.TimeSpec.UTC:
            return naive.replace(tzinfo=timezone.utc)
        if spec == Qt.TimeSpec.OffsetFromUTC:
            return naive.replace(tzinfo=timezone(timedelta(seconds=value.offsetFromUtc())))
        return naive
    if isinstance(value, QDate):
        return datetime(value.year(), value.month(), value.day()) if value.isValid() else None
    return value


def _number(value):
    if value is None or (isinstance(value, QVariant) and value.isNull()):
        return math.nan
    try:
        return float(value)
    except (TypeError, ValueError):
        return math.nan


def _field_index(source, name, what):
    idx = source.fields().lookupField(name) if name else -1
    if idx < 0:
        raise AirmapInputError(f"{what} '{name}' is not in the layer: choose one of "
                               f"{', '.join(f.name() for f in source.fields())}.")
    return idx


def _points(source, context):
    """(feature, point in the layer's CRS, point in lon/lat) of every feature with a geometry."""
    to_wgs = QgsCoordinateTransform(source.sourceCrs(), WGS84, context.transformContext())
    for feature in source.getFeatures():
        geom = feature.geometry()
        if geom is None or geom.isEmpty():
            continue
        point = geom.asPoint() if not geom.isMultipart() else geom.asMultiPoint()[0]
        yield feature, point, to_wgs.transform(point)


def read_long_layer(source, time_field, value_fields, context, station_field=None, raw_fields=()):
    """(lon, lat, x, y, times, {field: values}, station ids or None) of every feature, coordinates
    in WGS 84 (lon/lat) and in the layer's CRS (x/y). ``raw_fields`` are read as they are (text)."""
    if source is None:
        raise AirmapInputError("No station layer was given: choose a point layer as INPUT.")
    if QgsWkbTypes.geometryType(source.wkbType()) != GEOMETRY_POINT:
        raise AirmapInputError("The station layer must contain points.")
    require_valid_crs(source.sourceCrs(), "The station layer")
    tidx = _field_index(source, time_field, "Time field")
    vidx = {f: numeric_field_index(source, f) for f in value_fields}
    ridx = {f: _field_index(source, f, "Field") for f in raw_fields}
    sidx = _field_index(source, station_field, "Station field") if station_field else -1
    lon, lat, xs, ys, times, ids = [], [], [], [], [], []
    values = {f: [] for f in list(value_fields) + list(raw_fields)}
    for feature, point, p in _points(source, context):
        lon.append(p.x())
        lat.append(p.y())
        xs.append(point.x())
        ys.append(point.y())
        times.append(qt_time(feature.attribute(tidx)))
        for f, i in vidx.items():
            values[f].append(_number(feature.attribute(i)))
        for f, i in ridx.items():
            values[f].append(feature.attribute(i))
        if sidx >= 0:
            ids.append(feature.attribute(sidx))
    if not lon:
        raise AirmapInputError("The station layer is empty: choose a layer with station points.")
    return (np.array(lon), np.array(lat), np.array(xs), np.array(ys), times, values,
            ids if sidx >= 0 else None)


def read_series(alg, parameters, context, feedback=None):
    """INPUT as a StationSeries (lon/lat), and each station's (x, y) in the layer's CRS."""
    source = alg.parameterAsSource(parameters, "INPUT", context)
    field = alg.parameterAsString(parameters, "FIELD", context)
    time_field = alg.parameterAsString(parameters, "TIME_FIELD", context)
    station_field = alg.parameterAsString(parameters, "STATION_FIELD", context) or None
    lon, lat, xs, ys, times, values, ids = read_long_layer(source, time_field, [field], context, station_field)
    if not np.isfinite(values[field]).any():
        raise AirmapInputError(f"Field '{field}' is NULL or NaN in every feature: choose a field with measured values.")
    series = series_from_records(lon, lat, times, values[field], ids, "TIME_FIELD")
    keys = ids if ids is not None else [f"{a:.6f} {b:.6f}" for a, b in zip(lon, lat)]
    first = {}
    for k, x, y in zip(keys, xs, ys):
        first.setdefault(str(k), (x, y))
    xy = np.array([first[i] for i in series.ids])
    start, end = time_range(alg, parameters, context)
    series = series.between(start, end) if (start is not None or end is not None) else series
    if feedback is not None:
        for note in series.notes:
            feedback.pushInfo(note)
        feedback.pushInfo(f"{len(series)} stations x {series.times.size} times "
                          f"({series.times[0]} .. {series.times[-1]}, step {series.step.astype(int) // 60} min).")
    return series, xy, source.sourceCrs()


def time_range(alg, parameters, context):
    """START/END as datetime64 (None when unset)."""
    out = []
    for name in ("START", "END"):
        if parameters.get(name) in (None, ""):
            out.append(None)
            continue
        value = alg.parameterAsDateTime(parameters, name, context)
        out.append(np.datetime64(value.toPyDateTime().replace(tzinfo=None), "s") if value.isValid() else None)
    return out


def read_wind(alg, parameters, context, series, target_lon=None, target_lat=None, feedback=None):
    """(wind at the stations, wind at the targets) or (None, None) when no wind is given."""
    layer = alg.parameterAsSource(parameters, "WIND_INPUT", context)
    u_raster = alg.parameterAsRasterLayer(parameters, "WIND_U_RASTER", context)
    v_raster = alg.parameterAsRasterLayer(parameters, "WIND_V_RASTER", context)
    if layer is not None and (u_raster is not None or v_raster is not None):
        raise AirmapInputError("Give the wind either as WIND_INPUT stations or as WIND_U_RASTER/WIND_V_RASTER, not both.")
    if (u_raster is None) != (v_raster is None):
        raise AirmapInputError("Wind rasters come in pairs: set both WIND_U_RASTER and WIND_V_RASTER.")
    lon = series.lon if target_lon is None else np.r_[series.lon, target_lon]
    lat = series.lat if target_lat is None else np.r_[series.lat, target_lat]
    if layer is not None:
        wind = _wind_from_layer(alg, parameters, context, layer, series, lon, lat)
    elif u_raster is not None:
        wind = _wind_from_rasters(alg, parameters, context, u_raster, v_raster, series, lon, lat, feedback)
    else:
        return None, None
    n = len(series)
    return Wind(wind.u[:n], wind.v[:n], wind.source), Wind(wind.u[n:], wind.v[n:], wind.source)


def _wind_from_layer(alg, parameters, context, layer, series, lon, lat):
    names = {k: alg.parameterAsString(parameters, k, context) or None for k in WIND_FIELDS}
    if not names["WIND_TIME_FIELD"]:
        raise AirmapInputError("The wind layer was given without WIND_TIME_FIELD: set the field holding its times.")
    polar = names["WIND_SPEED_FIELD"] and names["WIND_DIRECTION_FIELD"]
    cartesian = names["WIND_U_FIELD"] and names["WIND_V_FIELD"]
    if not (polar or cartesian):
        raise AirmapInputError("The wind layer needs WIND_SPEED_FIELD and WIND_DIRECTION_FIELD, or WIND_U_FIELD and "
                               "WIND_V_FIELD: set one pair.")
    if polar:
        mlon, mlat, _, _, times, values, _ = read_long_layer(
            layer, names["WIND_TIME_FIELD"], [names["WIND_SPEED_FIELD"]], context,
            raw_fields=[names["WIND_DIRECTION_FIELD"]])
        speed = values[names["WIND_SPEED_FIELD"]]
        direction = direction_degrees(values[names["WIND_DIRECTION_FIELD"]])
        u, v = wind_uv(speed, direction)
        u[~np.isfinite(speed)] = np.nan
        v[~np.isfinite(speed)] = np.nan
        what = "speed and direction"
    else:
        mlon, mlat, _, _, times, values, _ = read_long_layer(
            layer, names["WIND_TIME_FIELD"], [names["WIND_U_FIELD"], names["WIND_V_FIELD"]], context)
        u, v = values[names["WIND_U_FIELD"]], values[names["WIND_V_FIELD"]]
        what = "u/v"
    su = series_from_records(mlon, mlat, times, u, what="WIND_TIME_FIELD")
    sv = series_from_records(mlon, mlat, times, v, what="WIND_TIME_FIELD")
    met_u = _on_axis(su.values, su.times, series.times)
    met_v = _on_axis(sv.values, sv.times, series.times)
    wind = interpolate_met(su.lon, su.lat, met_u, met_v, lon, lat)
    wind.source = f"{len(su)} wind stations ({what}), inverse-distance weighted per time step"
    return wind


def _on_axis(values, times, axis):
    """(S, len(axis)) values of a series re-indexed on another time axis (NaN where absent)."""
    out = np.full((values.shape[0], axis.size), np.nan)
    where = {t: k for k, t in enumerate(times)}
    for k, t in enumerate(axis):
        j = where.get(t)
        if j is not None:
            out[:, k] = values[:, j]
    return out


def _wind_from_rasters(alg, parameters, context, u_layer, v_layer, series, lon, lat, feedback):
    u_r = read_raster_layer(u_layer, feedback)
    v_r = read_raster_layer(v_layer, feedback)
    if u_r.data.shape != v_r.data.shape:
        raise AirmapInputError("WIND_U_RASTER and WIND_V_RASTER differ in bands or size: give a matching pair.")
    stamps = [parse_time(n) for n in u_r.band_names]
    if all(s is not None for s in stamps):
        band_times = np.array([s.replace(tzinfo=None) for s in stamps], dtype="datetime64[s]")
    else:
        start, _ = time_range(alg, parameters, context)
        if start is None:
            raise AirmapInputError("The wind rasters' band descriptions are not times: set START (the time of band 1) "
                                   "and WIND_RASTER_STEP.")
        step = alg.parameterAsDouble(parameters, "WIND_RASTER_STEP", context) or 1.0
        band_times = start + (np.arange(u_r.data.shape[0]) * step * 3600).astype("timedelta64[s]")
    to_raster = QgsCoordinateTransform(WGS84, QgsCoordinateReferenceSystem(u_r.grid.crs), context.transformContext())
    pts = [to_raster.transform(QgsPointXY(float(a), float(b))) for a, b in zip(lon, lat)]
    x = np.array([p.x() for p in pts])
    y = np.array([p.y() for p in pts])
    u = sample_stack(u_r.data, u_r.grid, band_times, x, y, series.times)
    v = sample_stack(v_r.data, v_r.grid, band_times, x, y, series.times)
    return Wind(u, v, f"u/v raster stacks '{u_layer.name()}' / '{v_layer.name()}' ({u_r.data.shape[0]} bands)")


def read_targets(alg, parameters, context, feedback=None):
    """TARGETS points: (ids, lon, lat, x, y, crs) or None when not given."""
    source = alg.parameterAsSource(parameters, "TARGETS", context)
    if source is None:
        return None
    require_valid_crs(source.sourceCrs(), "The TARGETS layer")
    id_field = alg.parameterAsString(parameters, "TARGET_ID_FIELD", context) or None
    idx = _field_index(source, id_field, "Target id field") if id_field else -1
    ids, lon, lat, xs, ys = [], [], [], [], []
    for feature, point, p in _points(source, context):
        ids.append(str(feature.attribute(idx)) if idx >= 0 else str(feature.id()))
        lon.append(p.x())
        lat.append(p.y())
        xs.append(point.x())
        ys.append(point.y())
    if not ids:
        raise AirmapInputError("The TARGETS layer has no points: choose a layer with the places to infer.")
    return ids, np.array(lon), np.array(lat), np.array(xs), np.array(ys), source.sourceCrs()


def lonlat_of(xs, ys, crs, context):
    to_wgs = QgsCoordinateTransform(crs, WGS84, context.transformContext())
    pts = [to_wgs.transform(QgsPointXY(float(a), float(b))) for a, b in zip(xs, ys)]
    return np.array([p.x() for p in pts]), np.array([p.y() for p in pts])


# --- writing -------------------------------------------------------------------------------

def series_fields(id_name="target_id", value_name="value"):
    fields = QgsFields()
    fields.append(QgsField(id_name, FIELD_STRING))
    fields.append(QgsField("time", FIELD_DATETIME))
    fields.append(QgsField(value_name, FIELD_DOUBLE))
    return fields


def qdatetime(stamp):
    """datetime64 -> QDateTime (the temporal controller's type)."""
    py = stamp.astype("datetime64[s]").astype(datetime)
    return QDateTime(py)


def series_sink(alg, parameters, context, name, crs, id_name="target_id", value_name="value"):
    fields = series_fields(id_name, value_name)
    sink, dest = alg.parameterAsSink(parameters, name, context, fields, WKB_POINT, crs)
    return sink, dest, fields


def add_series_rows(sink, fields, ids, xs, ys, times, block):
    """One feature per target and time of ``block`` (targets, len(times))."""
    stamps = [qdatetime(t) for t in times]
    for i, tid in enumerate(ids):
        geom = QgsGeometry.fromPointXY(QgsPointXY(float(xs[i]), float(ys[i])))
        for k, stamp in enumerate(stamps):
            value = block[i, k]
            f = QgsFeature(fields)
            f.setGeometry(geom)
            f.setAttributes([tid, stamp, float(value) if np.isfinite(value) else None])
            sink.addFeature(f, QgsFeatureSink.Flag.FastInsert)


def add_series_sink_parameter(alg, name, description, optional=True):
    alg.addParameter(QgsProcessingParameterFeatureSink(name, alg.tr(description), SOURCE_POINT,
                                                       optional=optional, createByDefault=not optional))


