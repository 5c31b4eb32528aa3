"""Dimension lifting: a concentration map becomes points (x, y, z) in the cube [-1, 1]^3.

HF-SDF treats a map as a surface in (lon, lat, concentration) space. Each axis is min-max
scaled to [-1, 1] separately (the paper's preprocessing), so the method is blind to units and
magnitudes: TROPOMI columns near 1e-5 mol/m2 and CAMS PM2.5 up to thousands of ug/m3 land in
the same cube, and the read-out is mapped back to the input's units. Scaling is done in
float64 so tiny magnitudes keep their precision.

This is the one normalisation used at training time (models/hfsdf/train.py) and at inference.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Tuple

import numpy as np

from ..errors import AirmapInputError


def _centre_half(lo: float, hi: float) -> Tuple[float, float]:
    """Centre and half-span of [lo, hi]; a zero span keeps a finite, non-zero scale so a
    constant map maps to z = 0 instead of dividing by zero."""
    centre = 0.5 * (lo + hi)
    half = 0.5 * (hi - lo)
    if not half > 0:
        half = max(abs(centre) * 1e-6, 1e-300)
    return centre, half


@dataclass(frozen=True)
class Cube:
    """Affine maps of x, y and value onto [-1, 1] (centre + half-span per axis)."""

    x_centre: float
    x_half: float
    y_centre: float
    y_half: float
    v_centre: float
    v_half: float

    # --- construction -------------------------------------------------------------------
    @classmethod
    def fit(cls, bounds: Tuple[float, float, float, float], values: np.ndarray) -> "Cube":
        """Cube spanning ``bounds`` (xmin, ymin, xmax, ymax) and the finite range of ``values``."""
        values = np.asarray(values, dtype=np.float64)
        finite = values[np.isfinite(values)]
        if finite.size == 0:
            raise AirmapInputError("The input has no valid value (all no-data): choose a layer or band "
                                   "with data inside the extent.")
        xmin, ymin, xmax, ymax = (float(b) for b in bounds)
        if not all(np.isfinite([xmin, ymin, xmax, ymax])):
            raise AirmapInputError("The input extent is not finite: check the layer's coordinates.")
        xc, xh = _centre_half(xmin, xmax)
        yc, yh = _centre_half(ymin, ymax)
        # Points on one line (e.g. stations along a road) would collapse an axis: borrow the other.
        if xmax <= xmin and ymax > ymin:
            xh = yh
        if ymax <= ymin and xmax > xmin:
            yh = xh
        vc, vh = _centre_half(float(finite.min()), float(finite.max()))
        return cls(xc, xh, yc, yh, vc, vh)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "Cube":
        return cls(**{k: float(d[k]) for k in cls.__dataclass_fields__})

    # --- maps ---------------------------------------------------------------------------
    def x_to_cube(self, x) -> np.ndarray:
        return (np.asarray(x, np.float64) - self.x_centre) / self.x_half

    def y_to_cube(self, y) -> np.ndarray:
        return (np.asarray(y, np.float64) - self.y_centre) / self.y_half

    def value_to_cube(self, v) -> np.ndarray:
        return (np.asarray(v, np.float64) - self.v_centre) / self.v_half

    def value_from_cube(self, z) -> np.ndarray:
        return np.asarray(z, np.float64) * self.v_half + self.v_centre

    def distance_from_cube(self, d) -> np.ndarray:
        """A height distance in cube units expressed in value units (for |f| confidence)."""
        return np.asarray(d, np.float64) * self.v_half

    def lift(self, x, y, v) -> np.ndarray:
        """(N, 3) float32 surface points (x, y, z) in the cube."""
        return np.stack([self.x_to_cube(x), self.y_to_cube(y), self.value_to_cube(v)], axis=1).astype(np.float32)

    def xy(self, x, y) -> np.ndarray:
        """(N, 2) float64 horizontal cube coordinates."""
        return np.stack([self.x_to_cube(np.ravel(x)), self.y_to_cube(np.ravel(y))], axis=1)


def lift_map(data: np.ndarray, bounds: Tuple[float, float, float, float]) -> Tuple[np.ndarray, Cube]:
    """Surface points of a north-up (H, W) map covering ``bounds``; NaN cells are skipped.

    Cell centres are used, so a map and its block-mean coarsening share the same cube x/y."""
    data = np.asarray(data, dtype=np.float64)
    if data.ndim != 2:
        raise AirmapInputError(f"Expected one band (H, W), got an array of shape {data.shape}.")
    h, w = data.shape
    xmin, ymin, xmax, ymax = bounds
    xs = xmin + (np.arange(w) + 0.5) * (xmax - xmin) / w
    ys = ymax - (np.arange(h) + 0.5) * (ymax - ymin) / h
    gx, gy = np.meshgrid(xs, ys)
    ok = np.isfinite(data)
    cube = Cube.fit(bounds, data[ok])
    return cube.lift(gx[ok], gy[ok], data[ok]), cube
