"""Distances on the sphere for grids in any geographic CRS (lon/lat in degrees).

Whether a CRS is geographic is read from its definition (PROJ, through rasterio), so
CGCS2000 (EPSG:4490), ETRS89 (EPSG:4258), NAD83 or a WKT without an authority code all get
great-circle distances, not only WGS 84.
"""
from __future__ import annotations

from functools import lru_cache
from typing import Optional, Tuple

import numpy as np

EARTH_RADIUS_KM = 6371.0088  # mean radius (IUGG); IDW weights do not depend on it


@lru_cache(maxsize=64)
def is_geographic(crs: Optional[str]) -> bool:
    """True when ``crs`` (an 'EPSG:n', 'OGC:CRS84' or WKT string) has lon/lat axes in degrees."""
    if not crs:
        return False
    from rasterio.crs import CRS

    try:
        return bool(CRS.from_user_input(crs).is_geographic)
    except Exception:  # an unparseable CRS string: treat it as planar, as before
        return False


def unit_vectors(lon, lat) -> np.ndarray:
    """(n, 3) points on the unit sphere: Euclidean (chord) distance between them grows with the
    great-circle distance, so a k-d tree on them finds great-circle nearest neighbours."""
    lon = np.radians(np.ravel(np.asarray(lon, dtype=np.float64)))
    lat = np.radians(np.ravel(np.asarray(lat, dtype=np.float64)))
    cos_lat = np.cos(lat)
    return np.column_stack([cos_lat * np.cos(lon), cos_lat * np.sin(lon), np.sin(lat)])


def chord_to_degrees(chord: np.ndarray) -> np.ndarray:
    """Great-circle angle (degrees of arc) of a unit-sphere chord length."""
    return np.degrees(2.0 * np.arcsin(np.clip(np.asarray(chord) / 2.0, 0.0, 1.0)))


def degrees_to_chord(angle: float) -> float:
    return float(2.0 * np.sin(np.radians(min(float(angle), 180.0)) / 2.0))


def great_circle_degrees(lon1, lat1, lon2, lat2) -> np.ndarray:
    """Great-circle angle in degrees between points (haversine)."""
    p1, p2 = np.radians(lat1), np.radians(lat2)
    h = np.sin((p2 - p1) / 2) ** 2 + np.cos(p1) * np.cos(p2) * np.sin(np.radians(np.subtract(lon2, lon1)) / 2) ** 2
    return np.degrees(2 * np.arcsin(np.sqrt(np.clip(h, 0, 1))))


def tree_points(x, y, geographic: bool) -> Tuple[np.ndarray, bool]:
    """Coordinates for a k-d tree: unit vectors on lon/lat, else the planar (x, y)."""
    if geographic:
        return unit_vectors(x, y), True
    return np.column_stack([np.ravel(x), np.ravel(y)]).astype(np.float64), False
