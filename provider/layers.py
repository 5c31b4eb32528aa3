"""QGIS layers and parameters -> core objects (Stations, Grid, Raster), with the checks and
messages users need when an input cannot be used."""
import math

import numpy as np
from qgis.core import (QgsCoordinateReferenceSystem, QgsCoordinateTransform, QgsFeatureRequest,
                       QgsProcessingException, QgsRectangle, QgsWkbTypes)
from qgis.PyQt.QtCore import QVariant

from ..core.errors import AirmapInputError
from ..core.grid import Grid
from ..core.stations import Stations
from .compat import GEOMETRY_POINT, NUMERIC_FIELD_TYPES, REQUEST_NO_FLAGS

AUTO_CELLS = 256  # default grid size (longer side) when PIXEL_SIZE is not set


def crs_string(crs):
    """'EPSG:n' when the CRS has an authority id, else its WKT; None for an invalid CRS."""
    if crs is None or not crs.isValid():
        return None
    return crs.authid() or crs.toWkt()


def qgs_crs(crs_text):
    return QgsCoordinateReferenceSystem(crs_text) if crs_text else QgsCoordinateReferenceSystem()


def require_valid_crs(crs, what):
    if crs is None or not crs.isValid():
        raise AirmapInputError(f"{what} has no valid CRS: set its CRS (Layer Properties > Source) "
                               "and run again.")


def station_points_input(alg, parameters, context, purpose):
    """(source, field, crs) of the STATIONS + FIELD pair of an algorithm that takes a raster INPUT
    or station points (a field never hangs from a raster-or-vector input: that crashes QGIS's
    dialog). ``purpose`` ends the FIELD message, e.g. "to map"."""
    source = alg.parameterAsSource(parameters, "STATIONS", context) if parameters.get("STATIONS") else None
    if source is None:
        raise AirmapInputError("No input was given: choose a raster as INPUT or a point layer as STATIONS.")
    field = alg.parameterAsString(parameters, "FIELD", context)
    if not field:
        raise AirmapInputError(f"STATIONS need a FIELD: choose the numeric field {purpose}.")
    crs = source.sourceCrs()
    require_valid_crs(crs, "The station layer")
    return source, field, crs


def numeric_field_index(source, field_name):
    fields = source.fields()
    idx = fields.lookupField(field_name) if field_name else -1
    if idx < 0:
        raise AirmapInputError(f"Field '{field_name}' is not in the layer: choose one of "
                               f"{', '.join(f.name() for f in fields)}.")
    if fields.at(idx).type() not in NUMERIC_FIELD_TYPES:
        raise AirmapInputError(f"Field '{field_name}' is {fields.at(idx).typeName()}, not a number: choose a "
                               "numeric field (or convert it with the Field Calculator).")
    return idx


def read_stations(source, field_name, target_crs, context, feedback=None, group_field=None):
    """Point features -> Stations in ``target_crs``; NULL/NaN values dropped and counted."""
    if source is None:
        raise AirmapInputError("No station layer was given: choose a point layer as INPUT.")
    if QgsWkbTypes.geometryType(source.wkbType()) != GEOMETRY_POINT:
        raise AirmapInputError("The station layer must contain points.")
    require_valid_crs(source.sourceCrs(), "The station layer")
    require_valid_crs(target_crs, "The output grid")
    idx = numeric_field_index(source, field_name)
    gidx = source.fields().lookupField(group_field) if group_field else -1
    if group_field and gidx < 0:
        raise AirmapInputError(f"Group field '{group_field}' is not in the layer.")
    transform = QgsCoordinateTransform(source.sourceCrs(), target_crs, context.transformContext())
    xs, ys, vals, ids, groups = [], [], [], [], []
    total = 0
    request = QgsFeatureRequest().setFlags(REQUEST_NO_FLAGS)
    for feature in source.getFeatures(request):
        total += 1
        geom = feature.geometry()
        value = feature.attribute(idx)
        if geom is None or geom.isEmpty() or value is None or value == QVariant() or \
                (isinstance(value, QVariant) and value.isNull()):
            continue
        value = float(value)
        if not math.isfinite(value):
            continue
        point = geom.asPoint() if not geom.isMultipart() else geom.asMultiPoint()[0]
        try:
            p = transform.transform(point)
        except Exception:  # QgsCsException: a point outside the target CRS's area
            continue
        xs.append(p.x())
        ys.append(p.y())
        vals.append(value)
        ids.append(feature.id())
        groups.append(str(feature.attribute(gidx)) if gidx >= 0 else None)
    if total == 0:
        raise AirmapInputError("The station layer is empty: choose a layer with station points.")
    if not vals:
        raise AirmapInputError(f"Field '{field_name}' is NULL or NaN at every station: choose a field with "
                               "measured values.")
    dropped = total - len(vals)
    if dropped and feedback is not None:
        feedback.pushInfo(f"{dropped} of {total} stations have no value (NULL/NaN) or no geometry and were left out.")
    return Stations(xs, ys, vals, np.array(ids), np.array(groups) if gidx >= 0 else None)


def target_crs_from(alg, parameters, context, fallback_crs):
    """TARGET_CRS if set, else the EXTENT's CRS, else ``fallback_crs`` (the input layer's)."""
    if parameters.get("TARGET_CRS"):
        crs = alg.parameterAsCrs(parameters, "TARGET_CRS", context)
        require_valid_crs(crs, "TARGET_CRS")
        return crs
    if parameters.get("EXTENT"):
        crs = alg.parameterAsExtentCrs(parameters, "EXTENT", context)
        if crs.isValid():
            return crs
    return fallback_crs


def grid_from_parameters(alg, parameters, context, target_crs, default_extent, default_extent_crs,
                         default_pixel=None):
    """Output Grid from EXTENT/PIXEL_SIZE in ``target_crs``. EXTENT defaults to the input's
    extent, PIXEL_SIZE to ``default_pixel`` or the size giving 256 cells on the longer side."""
    if parameters.get("EXTENT"):
        rect = alg.parameterAsExtent(parameters, "EXTENT", context, target_crs)
    else:
        rect = QgsRectangle(default_extent)
        if default_extent_crs.isValid() and default_extent_crs != target_crs:
            rect = QgsCoordinateTransform(default_extent_crs, target_crs, context.transformContext()) \
                .transformBoundingBox(rect)
    if rect.isNull() or rect.isEmpty():
        if rect.width() == 0 and rect.height() == 0:
            raise AirmapInputError("The extent is a single point: set EXTENT to an area.")
        rect.grow(max(rect.width(), rect.height()) * 0.05)
    raw_pixel = parameters.get("PIXEL_SIZE")
    if raw_pixel is None or raw_pixel == "":
        pixel = default_pixel or max(rect.width(), rect.height()) / AUTO_CELLS
    else:
        pixel = alg.parameterAsDouble(parameters, "PIXEL_SIZE", context)
    return Grid.from_extent(rect.xMinimum(), rect.yMinimum(), rect.xMaximum(), rect.yMaximum(),
                            pixel, crs_string(target_crs))


def stations_and_grid(alg, parameters, context, source, field, feedback=None, group_field=None):
    """Stations in the target CRS and the output grid of a station -> grid algorithm.

    EXTENT defaults to the bounding box of the stations that have values.
    """
    if source is None:
        raise AirmapInputError("No station layer was given: choose a point layer as INPUT.")
    require_valid_crs(source.sourceCrs(), "The station layer")
    target = target_crs_from(alg, parameters, context, source.sourceCrs())
    require_valid_crs(target, "The output grid")
    stations = read_stations(source, field, target, context, feedback, group_field)
    box = QgsRectangle(float(stations.x.min()), float(stations.y.min()),
                       float(stations.x.max()), float(stations.y.max()))
    box.grow(max(box.width(), box.height()) * 0.02)  # stations on the box's edge stay inside
    grid = grid_from_parameters(alg, parameters, context, target, box, target)
    return target, stations, grid


def require_overlap(stations, grid):
    inside = grid.contains(stations.x, stations.y)
    if not inside.any():
        raise AirmapInputError("No station lies inside the EXTENT: choose an extent that covers the stations "
                               "(or leave EXTENT empty to use the layer's).")
    return int(inside.sum())


def open_raster_layer(layer, feedback=None):
    """A QGIS raster layer -> an open core RasterReader (read by band and window; close it),
    its CRS taken from QGIS when the file has none."""
    if layer is None:
        raise AirmapInputError("No raster was given: choose a raster layer or file as INPUT.")
    from ..core.raster_io import RasterReader

    reader = RasterReader(layer.source())
    if layer.crs().isValid() and reader.notes:
        reader.grid = Grid(reader.grid.transform, reader.grid.width, reader.grid.height, crs_string(layer.crs()))
    if feedback is not None:
        for note in reader.notes:
            feedback.pushInfo(note)
    return reader


def require_data(any_valid, layer_name):
    if not any_valid:
        raise AirmapInputError(f"'{layer_name}' holds no data (every cell is no-data): choose another raster.")


def read_raster_layer(layer, feedback=None):
    """A QGIS raster layer -> core Raster (every band in memory), CRS as ``open_raster_layer``."""
    from ..core.raster_io import Raster

    with open_raster_layer(layer, feedback) as reader:
        raster = Raster(reader.read_bands(), reader.grid, reader.band_names, reader.units, reader.notes,
                        reader.source)
    require_data(np.isfinite(raster.data).any(), layer.name())
    return raster


def as_processing_error(exc):
    return QgsProcessingException(str(exc))
