"""Ordinary kriging through PyKrige, with the kriging variance, evaluated in chunks."""
from __future__ import annotations

from typing import Optional, Tuple, Union

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
    if geographic is None:
        geographic = is_geographic(grid.crs)
    xs, ys = grid.cell_centres()
    est, var = kriging_at(stations, xs.ravel(), ys.ravel(), variogram, geographic, neighbours, progress)
    est_grid = est.reshape(grid.shape).astype(np.float32)
    if variance:
        return est_grid, var.reshape(grid.shape).astype(np.float32)
    return est_grid


def kriging_at(stations: Stations, x: np.ndarray, y: np.ndarray, variogram: str = "exponential",
               geographic: bool = False, neighbours: Optional[int] = NEIGHBOURS,
               progress: Optional[Progress] = None) -> Tuple[np.ndarray, np.ndarray]:
    """Ordinary kriging estimate and variance at points, one variogram fit for all of them."""
    from pykrige.ok import OrdinaryKriging  # heavy import, only when kriging runs

    if variogram not in VARIOGRAMS:
        raise AirmapInputError(f"Variogram model must be one of {', '.join(VARIOGRAMS)}, got '{variogram}'.")
    stations = _merge_duplicates(stations)
    require_stations(stations, 3, "Kriging")
    xs, ys = np.ravel(x).astype(float), np.ravel(y).astype(float)
    if np.ptp(stations.values) == 0:
        return np.full(xs.size, stations.values[0]), np.zeros(xs.size)
    progress = ensure(progress)
    model = OrdinaryKriging(stations.x, stations.y, stations.values, variogram_model=variogram,
                            coordinates_type="geographic" if geographic else "euclidean",
                            nlags=N_LAGS, enable_plotting=False, verbose=False)
    local = neighbours is not None and 0 < neighbours < len(stations)
    est = np.empty(xs.size)
    var = np.empty(xs.size)
    step = 50_000 if local else max(1, MAX_MATRIX // max(len(stations), 1))
    progress.set(0.0)
    for start in range(0, xs.size, step):
        sl = slice(start, start + step)
        if local:
            z, s2 = model.execute("points", xs[sl], ys[sl], backend="C", n_closest_points=int(neighbours))
        else:
            z, s2 = model.execute("points", xs[sl], ys[sl], backend="vectorized")
        est[sl], var[sl] = np.asarray(z), np.asarray(s2)
        progress.set(min(1.0, (start + step) / xs.size))
    return est, np.maximum(var, 0)
