"""Inverse-distance weighting onto a grid, in chunks so memory stays bounded."""
from __future__ import annotations

from typing import Optional

import numpy as np

from ..errors import AirmapInputError
from ..grid import Grid
from ..progress import Progress, ensure
from ..stations import Stations, require_stations

CHUNK_CELLS = 65536


def idw(stations: Stations, grid: Grid, power: float = 2.0, k: Optional[int] = None,
        radius: Optional[float] = None, progress: Optional[Progress] = None) -> np.ndarray:
    """IDW surface (H, W). ``k``: use the k nearest stations (None = all); ``radius``: only
    stations within this distance (grid units), cells with none stay NaN."""
    xs, ys = grid.cell_centres()
    est = idw_at(stations, xs.ravel(), ys.ravel(), power, k, radius, progress)
    return est.reshape(grid.shape).astype(np.float32)


def idw_at(stations: Stations, x: np.ndarray, y: np.ndarray, power: float = 2.0, k: Optional[int] = None,
           radius: Optional[float] = None, progress: Optional[Progress] = None) -> np.ndarray:
    """IDW estimates at points (x, y) in the stations' coordinates."""
    require_stations(stations, 1, "IDW")
    if power <= 0:
        raise AirmapInputError(f"POWER must be positive, got {power}.")
    if radius is not None and radius <= 0:
        raise AirmapInputError(f"SEARCH_RADIUS must be positive (or unset), got {radius}.")
    from scipy.spatial import cKDTree  # here, not at the top: the package's constants load without SciPy

    progress = ensure(progress)
    pts = np.column_stack([stations.x, stations.y])
    tree = cKDTree(pts)
    n = len(stations)
    k_eff = n if not k or k >= n else int(k)
    cells = np.column_stack([np.ravel(x), np.ravel(y)])
    out = np.full(cells.shape[0], np.nan)
    upper = radius if radius is not None else np.inf
    for start in range(0, cells.shape[0], CHUNK_CELLS):
        chunk = cells[start:start + CHUNK_CELLS]
        dist, idx = tree.query(chunk, k=k_eff, distance_upper_bound=upper)
        if k_eff == 1:
            dist, idx = dist[:, None], idx[:, None]
        found = np.isfinite(dist)
        safe_idx = np.where(found, idx, 0)
        vals = stations.values[safe_idx]
        with np.errstate(divide="ignore"):
            w = np.where(found, 1.0 / np.maximum(dist, 1e-12) ** power, 0.0)
        exact = found & (dist < 1e-12)
        wsum = w.sum(axis=1)
        est = np.where(wsum > 0, (w * vals).sum(axis=1) / np.where(wsum > 0, wsum, 1), np.nan)
        hit = exact.any(axis=1)
        est[hit] = vals[hit, exact[hit].argmax(axis=1)]
        out[start:start + chunk.shape[0]] = est
        progress.set(min(1.0, (start + chunk.shape[0]) / cells.shape[0]))
    return out
