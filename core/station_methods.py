"""Registry of station -> grid methods, so cross-validation (and anything else that takes
'a method') works for every method, including ones added later.

Each entry maps training stations and a grid to an (H, W) estimate; methods that can also
predict at arbitrary points (IDW, kriging) give ``at_points`` so held-out stations are
predicted exactly where they are instead of at a cell centre.
"""
from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Callable, Dict, Optional

import numpy as np

from .grid import Grid
from .stations import Stations


@dataclass(frozen=True)
class StationMethod:
    key: str
    label: str
    module: str          # relative to this package, imported only when used
    grid_function: str   # fn(stations, grid, progress=None) -> (H, W)
    point_function: Optional[str] = None  # fn(stations, x, y, crs) -> (n,)

    def _fn(self, name: str) -> Callable:
        module = importlib.import_module(self.module, __package__)
        return getattr(module, name)

    def grid(self, stations: Stations, grid: Grid, progress=None) -> np.ndarray:
        return self._fn(self.grid_function)(stations, grid, progress=progress)

    def at_points(self, stations: Stations, x: np.ndarray, y: np.ndarray, crs: Optional[str],
                  grid: Optional[Grid] = None) -> np.ndarray:
        """Predictions at points; grid-only methods are sampled in the grid's cells."""
        if self.point_function:
            return self._fn(self.point_function)(stations, x, y, crs)
        estimate = self.grid(stations, grid)
        return sample_cells(estimate, grid, x, y)


def sample_cells(array: np.ndarray, grid: Grid, x, y) -> np.ndarray:
    """Values of the cells holding each point (NaN outside the grid)."""
    row, col = grid.rowcol(x, y)
    inside = grid.contains(x, y)
    out = np.full(np.shape(x), np.nan)
    out[inside] = array[row[inside], col[inside]]
    return out


METHODS: Dict[str, StationMethod] = {m.key: m for m in (
    StationMethod("idw", "IDW", ".station_points", "idw_grid", "idw_points"),
    StationMethod("kriging", "Ordinary kriging", ".station_points", "kriging_grid", "kriging_points"),
    StationMethod("pointconv", "PointConv + UNet++", ".pointconv", "pointconv_grid"),
)}


def method_keys():
    return list(METHODS)
