"""First guess of the surface height per pixel, where root finding starts.

A trained decoder is a height-field SDF only approximately: away from its observations a
pixel's column can cross f = 0 more than once (single-map fits on the simulated x10 case show
2-5 crossings along some columns, the extra ones not through any observation). Root finding
converges on the crossing nearest its start, so it starts at the observed heights
interpolated linearly (Delaunay; nearest observation outside their hull) instead of at z = 0:
it then lands on the crossing through the data. The read-out is still the network's surface;
only the choice among its crossings uses the observations. Beyond ``MAX_PRIOR_POINTS``
observations (a large raster band) the interpolation uses that many, evenly spaced, so its
memory stays bounded.
"""
from __future__ import annotations

import numpy as np

# Observations the interpolation is built from at most: a Delaunay triangulation costs ~2 KB per
# point (a 1,024² raster band, 1 M valid cells, took 2.3 GB), and a first guess needs no more.
MAX_PRIOR_POINTS = 65536


class HeightPrior:
    """``prior(xy) -> z``: heights (N,) at horizontal cube coordinates ``xy`` (N, 2) from the
    lifted observations ``points`` (M, 3)."""

    def __init__(self, points: np.ndarray, max_points: int = MAX_PRIOR_POINTS):
        from scipy.interpolate import LinearNDInterpolator, NearestNDInterpolator

        points = np.asarray(points, np.float64)
        if len(points) > max_points:   # evenly spaced in the given order (rows of a raster band)
            points = points[np.linspace(0, len(points) - 1, max_points).round().astype(np.int64)]
        self._nearest = NearestNDInterpolator(points[:, :2], points[:, 2])
        try:
            self._linear = LinearNDInterpolator(points[:, :2], points[:, 2])
        except Exception:  # scipy's QhullError: fewer than 3 points or all on one line
            self._linear = None

    def __call__(self, xy: np.ndarray) -> np.ndarray:
        xy = np.asarray(xy, np.float64)
        z = np.full(len(xy), np.nan) if self._linear is None else self._linear(xy)
        outside = ~np.isfinite(z)
        if outside.any():
            z[outside] = self._nearest(xy[outside])
        return z
