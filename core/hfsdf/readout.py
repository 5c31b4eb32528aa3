"""Reading the map back from the implicit surface f(x, y, z) = 0.

Two ways:
- ``root_find``: per pixel, solve f(x, y, z) = 0 along the height axis. The height-field SDF is
  trained with df/dz = 1, so the first step z1 = z0 - f(z0) is already close and secant (or
  Newton) steps finish in a few queries. One query per pixel per step; pixels that have
  converged drop out.
- ``marching_cubes``: the paper's read-out (utils/plots.py): evaluate f on a dense grid
  (pixels x heights), extract the zero level set with scikit-image, then project the mesh
  vertices onto the pixel grid. Costs (number of height levels) queries per pixel.

Both take horizontal cube coordinates and return heights in the cube (callers map them back to
values with ``Cube.value_from_cube``).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Tuple

import numpy as np

from ..progress import Progress, ensure

Z_LIMIT = 4.0        # heights are kept inside [-4, 4] (the cube is [-1, 1]; extrapolation allowed)
SLOPE_RANGE = (0.05, 20.0)


@dataclass
class ReadoutStats:
    queries: int = 0           # points evaluated (value-equivalents for secant and marching cubes)
    steps: int = 0
    max_residual: float = 0.0  # max |f| at the returned surface (root finding)


def root_find(decoder, latent, xy: np.ndarray, *, steps: int = 8, tol: float = 1e-5,
              method: str = "secant", z0=0.0, with_residual: bool = False,
              progress: Optional[Progress] = None, stats: Optional[ReadoutStats] = None
              ) -> Tuple[np.ndarray, Optional[np.ndarray]]:
    """Heights z (N,) with f(x, y, z) = 0 for horizontal cube coordinates ``xy`` (N, 2).

    ``method``: 'secant' (value queries only; the first step assumes df/dz = 1) or 'newton'
    (value and df/dz per query). Safeguards for a decoder that is only approximately a
    height-field SDF: slopes outside [0.05, 20] are replaced by 1, and once a sign change
    brackets the root a step leaving the bracket becomes a bisection. With ``with_residual``
    one more query returns |f| at the returned heights (the confidence layer). ``z0``: the
    starting height, one for all pixels or one per pixel (N,)."""
    progress = ensure(progress)
    stats = stats if stats is not None else ReadoutStats()
    n = len(xy)
    pts = np.empty((n, 3), np.float32)
    pts[:, :2] = xy
    z = np.full(n, z0, np.float64)
    lo = np.full(n, -np.inf)   # highest height seen with f < 0
    hi = np.full(n, np.inf)    # lowest height seen with f > 0
    z_prev = np.full(n, np.nan)
    f_prev = np.full(n, np.nan)
    active = np.arange(n)
    for k in range(steps):
        progress.set(k / (steps + with_residual))
        za = z[active]
        pts[active, 2] = za
        if method == "newton":
            f, slope = decoder.value_and_dz(latent, pts[active])
            f, slope = f.astype(np.float64), slope.astype(np.float64)
            stats.queries += 2 * len(active)  # value + tangent ~ two value queries
        else:
            f = decoder.value(latent, pts[active]).astype(np.float64)
            stats.queries += len(active)
            dz = za - z_prev[active]
            with np.errstate(divide="ignore", invalid="ignore"):
                slope = (f - f_prev[active]) / dz
            slope[~(np.abs(dz) > 1e-12)] = 1.0
        stats.steps = k + 1
        neg, pos = f < 0, f > 0
        lo[active[neg]] = np.maximum(lo[active[neg]], za[neg])
        hi[active[pos]] = np.minimum(hi[active[pos]], za[pos])
        # A height-field SDF rises with z; any other slope is a kink: take df/dz = 1 there.
        bad = ~np.isfinite(slope) | (slope < SLOPE_RANGE[0]) | (slope > SLOPE_RANGE[1])
        slope[bad] = 1.0
        proposal = za - f / slope
        l, h = lo[active], hi[active]
        bracketed = np.isfinite(l) & np.isfinite(h)
        outside = bracketed & ((proposal <= np.minimum(l, h)) | (proposal >= np.maximum(l, h)))
        proposal[outside] = 0.5 * (l[outside] + h[outside])
        done = np.abs(f) < tol
        z_prev[active], f_prev[active] = za, f
        z[active] = np.where(done, za, np.clip(proposal, -Z_LIMIT, Z_LIMIT))
        active = active[~done]
        if active.size == 0:
            break
    residual = None
    if with_residual:
        pts[:, 2] = z
        residual = np.abs(decoder.value(latent, pts).astype(np.float64))
        stats.queries += n
        stats.max_residual = float(residual.max()) if n else 0.0
    progress.set(1.0)
    return z, residual


def marching_cubes(decoder, latent, xs: np.ndarray, ys: np.ndarray, *, levels: int = 128,
                   z_range: Tuple[float, float] = (-1.2, 1.2), slab_rows: int = 32,
                   progress: Optional[Progress] = None, stats: Optional[ReadoutStats] = None) -> np.ndarray:
    """Heights (H, W) for pixel centres ``xs`` (W,) and ``ys`` (H,) in the cube.

    f is sampled on ``levels`` heights spanning ``z_range`` (the paper: a uniform grid over
    [-1.2, 1.2]); the volume is processed in slabs of rows (sharing one row) so memory stays
    bounded. Vertices are projected to the nearest pixel and averaged; pixels where the
    surface leaves the sampled range get their nearest neighbour's height."""
    from scipy import ndimage
    from skimage.measure import marching_cubes as skimage_mc

    progress = ensure(progress)
    stats = stats if stats is not None else ReadoutStats()
    xs = np.asarray(xs, np.float64)
    ys = np.asarray(ys, np.float64)
    h, w = len(ys), len(xs)
    zs = np.linspace(z_range[0], z_range[1], int(levels))
    total = np.zeros((h, w))
    count = np.zeros((h, w))
    grid_x, grid_z = np.meshgrid(xs, zs, indexing="ij")  # (W, levels)
    step = max(1, slab_rows)
    starts = list(range(0, max(h - 1, 1), step))
    for i, r0 in enumerate(starts):
        progress.set(i / len(starts))
        r1 = min(h, r0 + step + 1)  # one shared row so no cell between slabs is skipped
        rows = r1 - r0
        pts = np.empty((rows, w, len(zs), 3), np.float32)
        pts[..., 0] = grid_x[None]
        pts[..., 1] = ys[r0:r1, None, None]
        pts[..., 2] = grid_z[None]
        vol = decoder.value(latent, pts.reshape(-1, 3)).reshape(rows, w, len(zs))
        stats.queries += vol.size
        if rows < 2 or w < 2 or not (vol.min() < 0 < vol.max()):
            continue
        try:
            verts, _, _, _ = skimage_mc(vol, level=0.0)
        except (ValueError, RuntimeError):
            continue
        r = np.rint(verts[:, 0]).astype(np.int64) + r0
        c = np.rint(verts[:, 1]).astype(np.int64)
        zv = np.interp(verts[:, 2], np.arange(len(zs)), zs)
        np.add.at(total, (r, c), zv)
        np.add.at(count, (r, c), 1.0)
    if h == 1 or w == 1:
        # Marching cubes needs a 2-cell-wide volume: fall back to the crossing on each column.
        return _column_crossings(decoder, latent, xs, ys, zs, stats)
    empty = count == 0
    if empty.all():
        return np.zeros((h, w))
    z = np.where(empty, 0.0, total / np.maximum(count, 1))
    if empty.any():
        idx = ndimage.distance_transform_edt(empty, return_distances=False, return_indices=True)
        z = z[tuple(idx)]
    progress.set(1.0)
    return z


def _column_crossings(decoder, latent, xs, ys, zs, stats):
    """Linear interpolation of the first sign change along each pixel's column."""
    gx, gy = np.meshgrid(xs, ys)
    pts = np.empty((gx.size, len(zs), 3), np.float32)
    pts[..., 0] = gx.reshape(-1, 1)
    pts[..., 1] = gy.reshape(-1, 1)
    pts[..., 2] = zs[None]
    f = decoder.value(latent, pts.reshape(-1, 3)).reshape(gx.size, len(zs)).astype(np.float64)
    stats.queries += f.size
    out = np.zeros(gx.size)
    for i in range(gx.size):
        s = np.nonzero(np.sign(f[i, :-1]) != np.sign(f[i, 1:]))[0]
        if s.size:
            k = s[0]
            t = f[i, k] / (f[i, k] - f[i, k + 1])
            out[i] = zs[k] + t * (zs[k + 1] - zs[k])
    return out.reshape(gx.shape)
