"""Ordinary kriging through PyKrige, with the kriging variance, evaluated in chunks."""
from __future__ import annotations

from typing import Iterator, Optional, Tuple, Union

import numpy as np

from ..errors import AirmapInputError
from ..geodesy import is_geographic
from ..grid import Grid
from ..progress import Progress, ensure
from ..stations import Stations, require_stations

VARIOGRAMS = ("exponential", "spherical", "gaussian", "linear", "power")
NEIGHBOURS = 40  # moving neighbourhood: local kriging, as national networks are not stationary
N_LAGS = 20      # fine lags resolve the short-range structure that interpolation depends on
MAX_MATRIX = 20_000_000  # cells x stations per chunk: bounds PyKrige's vectorised memory
LOCAL_STEP = 50_000      # cells per call to PyKrige's moving-neighbourhood C backend
STRIP_CELLS = 8192       # cells per strip of kriging_rows: PyKrige's working memory grows with the cells per call


def _merge_duplicates(st: Stations) -> Stations:
    """Stations at the same coordinates make the kriging system singular: average them."""
    coords = np.round(np.column_stack([st.x, st.y]), 9)
    uniq, inverse = np.unique(coords, axis=0, return_inverse=True)
    inverse = inverse.ravel()
    if uniq.shape[0] == len(st):
        return st
    sums = np.bincount(inverse, weights=st.values)
    return Stations(uniq[:, 0], uniq[:, 1], sums / np.bincount(inverse))


def ordinary_kriging(stations: Stations, grid: Grid, variogram: str = "exponential",
                     variance: bool = False, geographic: Optional[bool] = None,
                     neighbours: Optional[int] = NEIGHBOURS, progress: Optional[Progress] = None) -> Union[np.ndarray, Tuple[np.ndarray, np.ndarray]]:
    """Ordinary kriging estimate (H, W), and its variance when ``variance`` is True.

    The variogram is fitted to the stations by PyKrige. ``geographic`` (default: the grid CRS
    is geographic by its definition, any datum) uses great-circle distances on lon/lat. ``neighbours``: krige each cell from
    its nearest stations only (None = all stations in one global system).
    """
    est_grid = np.empty(grid.shape, dtype=np.float32)
    var_grid = np.empty(grid.shape, dtype=np.float32)
    for r0, est, var in kriging_rows(stations, grid, variogram, geographic, neighbours, progress):
        est_grid[r0:r0 + len(est)], var_grid[r0:r0 + len(var)] = est, var
    if variance:
        return est_grid, var_grid
    return est_grid


def kriging_rows(stations: Stations, grid: Grid, variogram: str = "exponential",
                 geographic: Optional[bool] = None, neighbours: Optional[int] = NEIGHBOURS,
                 progress: Optional[Progress] = None, rows: Optional[int] = None
                 ) -> Iterator[Tuple[int, np.ndarray, np.ndarray]]:
    """``ordinary_kriging`` strip by strip: (first row, estimate rows, variance rows) float32,
    ``rows`` rows at a time (default: about ``STRIP_CELLS`` cells), one variogram fit for all strips;
    the coordinates and results of one strip are all that is held."""
    if geographic is None:
        geographic = is_geographic(grid.crs)
    progress = ensure(progress)
    krige = _kriging_model(stations, variogram, geographic, neighbours)
    rows = int(rows or max(1, STRIP_CELLS // grid.width))
    xc, yc = grid.x_centres(), grid.y_centres()
    progress.set(0.0)
    for r0 in range(0, grid.height, rows):
        progress.check()
        xs, ys = np.meshgrid(xc, yc[r0:r0 + rows])
        est, var = krige(xs.ravel().astype(float), ys.ravel().astype(float))
        yield r0, est.reshape(xs.shape).astype(np.float32), var.reshape(xs.shape).astype(np.float32)
        progress.set(min(1.0, (r0 + rows) / grid.height))


def kriging_at(stations: Stations, x: np.ndarray, y: np.ndarray, variogram: str = "exponential",
               geographic: bool = False, neighbours: Optional[int] = NEIGHBOURS,
               progress: Optional[Progress] = None) -> Tuple[np.ndarray, np.ndarray]:
    """Ordinary kriging estimate and variance at points, one variogram fit for all of them."""
    krige = _kriging_model(stations, variogram, geographic, neighbours)
    xs, ys = np.ravel(x).astype(float), np.ravel(y).astype(float)
    progress = ensure(progress)
    progress.set(0.0)
    est, var = np.empty(xs.size), np.empty(xs.size)
    step = LOCAL_STEP
    for start in range(0, xs.size, step):
        sl = slice(start, start + step)
        est[sl], var[sl] = krige(xs[sl], ys[sl])
        progress.set(min(1.0, (start + step) / max(xs.size, 1)))
    return est, var


def _kriging_model(stations: Stations, variogram: str, geographic: bool, neighbours: Optional[int]):
    """The fitted system as ``krige(x, y) -> (estimate, variance)`` at points (float64)."""
    from pykrige.ok import OrdinaryKriging  # heavy import, only when kriging runs

    if variogram not in VARIOGRAMS:
        raise AirmapInputError(f"Variogram model must be one of {', '.join(VARIOGRAMS)}, got '{variogram}'.")
    stations = _merge_duplicates(stations)
    require_stations(stations, 3, "Kriging")
    if np.ptp(stations.values) == 0:
        return lambda xs, ys: (np.full(np.size(xs), stations.values[0]), np.zeros(np.size(xs)))
    model = OrdinaryKriging(stations.x, stations.y, stations.values, variogram_model=variogram,
                            coordinates_type="geographic" if geographic else "euclidean",
                            nlags=N_LAGS, enable_plotting=False, verbose=False)
    local = neighbours is not None and 0 < neighbours < len(stations)
    step = LOCAL_STEP if local else max(1, MAX_MATRIX // max(len(stations), 1))

    def krige(xs: np.ndarray, ys: np.ndarray):
        est, var = np.empty(xs.size), np.empty(xs.size)
        for start in range(0, xs.size, step):   # PyKrige's vectorised memory grows with cells x stations
            sl = slice(start, start + step)
            if local:
                z, s2 = model.execute("points", xs[sl], ys[sl], backend="C", n_closest_points=int(neighbours))
            else:
                z, s2 = model.execute("points", xs[sl], ys[sl], backend="vectorized")
            est[sl], var[sl] = np.asarray(z), np.asarray(s2)
        return est, np.maximum(var, 0)
    return krige
