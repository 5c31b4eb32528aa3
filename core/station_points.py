"""Baseline station methods in the registry's calling convention (grid and point forms)."""
from __future__ import annotations

import numpy as np

from .baselines import idw, idw_at, kriging_at, ordinary_kriging
from .baselines.idw import DEFAULT_K as IDW_K  # the 12 nearest stations, as airmap:idw
from .geodesy import is_geographic
from .grid import Grid
from .stations import Stations


def idw_grid(stations: Stations, grid: Grid, progress=None) -> np.ndarray:
    return idw(stations, grid, k=IDW_K, progress=progress)


def idw_points(stations: Stations, x, y, crs=None) -> np.ndarray:
    return idw_at(stations, x, y, k=IDW_K, geographic=is_geographic(crs))


def kriging_grid(stations: Stations, grid: Grid, progress=None) -> np.ndarray:
    return ordinary_kriging(stations, grid, progress=progress)


def kriging_points(stations: Stations, x, y, crs=None) -> np.ndarray:
    return kriging_at(stations, x, y, geographic=is_geographic(crs))[0]
