"""First guess of the surface height per pixel, where root finding starts.

A trained decoder is a height-field SDF only approximately: away from its observations a
pixel's column can cross f = 0 more than once (single-map fits on the simulated x10 case show
2-5 crossings along some columns, the extra ones not through any observation). Root finding
converges on the crossing nearest its start, so it starts at the observed heights
interpolated linearly (Delaunay; nearest observation outside their hull) instead of at z = 0:
it then lands on the crossing through the data. The read-out is still the network's surface;
only the choice among its crossings uses the observations.
"""
from __future__ import annotations

import numpy as np


class HeightPrior:
    """``prior(xy) -> z``: heights (N,) at horizontal cube coordinates ``xy`` (N, 2) from the
    lifted observations ``points`` (M, 3)."""

    def __init__(self, points: np.ndarray):
        from scipy.interpolate import LinearNDInterpolator, NearestNDInterpolator

        points = np.asarray(points, np.float64)
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
