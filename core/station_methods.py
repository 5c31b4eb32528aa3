"""Registry of station -> grid methods, so cross-validation (and anything else that takes
'a method') works for every method, including ones added later.

Each entry maps training stations and a grid to an (H, W) estimate; methods that can also
predict at arbitrary points (IDW, kriging) give ``at_points`` so held-out stations are
predicted exactly where they are instead of at a cell centre.

Method options: some methods take more than the PM2.5 stations (PointConv: covariate rasters,
meteorological station networks, a user model). Callers pass every option they have as keyword
arguments named in ``OPTIONS``; ``StationMethod.split_options`` keeps the ones the method
declares and names the others, so a caller can say which inputs a method ignored.
"""
from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Callable, Dict, List, Mapping, Optional, Tuple

import numpy as np

from .errors import AirmapInputError
from .grid import Grid
from .stations import Stations

# Option name -> how to name it to a user (in "ignored" notes).
OPTIONS: Dict[str, str] = {
    "covariates": "covariate rasters (DEM / URBAN)",
    "met_stations": "meteorological station layers (RH / WIND)",
    "model_path": "model file (MODEL)",
    "device": "DEVICE",
    "threads": "inference threads",
    "residual_kriging": "residual kriging (RESIDUAL_KRIGING)",
}


def option_given(value) -> bool:
    """An option counts as given unless it is None, empty, or a mapping of only empty values
    (e.g. ``{'dem': None}``)."""
    if value is None:
        return False
    if isinstance(value, Mapping):
        return any(option_given(v) for v in value.values())
    if isinstance(value, (str, list, tuple)):
        return len(value) > 0
    return True


@dataclass(frozen=True)
class StationMethod:
    key: str
    label: str
    module: str          # relative to this package, imported only when used
    grid_function: str   # fn(stations, grid, progress=None, **options) -> (H, W)
    point_function: Optional[str] = None  # fn(stations, x, y, crs) -> (n,)
    options: Tuple[str, ...] = ()         # the OPTIONS the grid function takes

    def _fn(self, name: str) -> Callable:
        module = importlib.import_module(self.module, __package__)
        return getattr(module, name)

    def split_options(self, options: Optional[Mapping[str, object]]) -> Tuple[Dict[str, object], List[str]]:
        """(the given options this method takes, the names of the given options it ignores)."""
        used, ignored = {}, []
        for name, value in (options or {}).items():
            if name not in OPTIONS:
                raise ValueError(f"unknown station-method option '{name}' (known: {', '.join(OPTIONS)})")
            if not option_given(value):
                continue
            if name in self.options:
                used[name] = value
            else:
                ignored.append(name)
        return used, ignored

    def ignored_note(self, ignored: List[str]) -> Optional[str]:
        """The log line telling a user which of their inputs this method did not use."""
        if not ignored:
            return None
        return f"{self.label} does not use these inputs, so they were ignored: {', '.join(OPTIONS[n] for n in ignored)}."

    def _check_options(self, options: Mapping[str, object]) -> None:
        extra = sorted(set(options) - set(self.options))
        if extra:  # a caller bug, not a user error: callers pass what split_options kept
            raise ValueError(f"{self.key} takes no option(s) {', '.join(extra)}: filter them with split_options")

    def grid(self, stations: Stations, grid: Grid, progress=None, **options) -> np.ndarray:
        """(H, W) estimate on ``grid``; ``options`` must be ones this method takes (see split_options)."""
        self._check_options(options)
        return self._fn(self.grid_function)(stations, grid, progress=progress, **options)

    def at_points(self, stations: Stations, x: np.ndarray, y: np.ndarray, crs: Optional[str],
                  grid: Optional[Grid] = None, progress=None, **options) -> np.ndarray:
        """Predictions at points; grid-only methods are sampled in the grid's cells.
        (Point functions take no options: methods with a point function declare none.)"""
        self._check_options(options)
        if self.point_function:
            return self._fn(self.point_function)(stations, x, y, crs)
        if grid is None:
            raise AirmapInputError(f"{self.label} predicts on a grid: give the grid (EXTENT / PIXEL_SIZE).")
        estimate = self.grid(stations, grid, progress=progress, **options)
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
    StationMethod("pointconv", "PointConv + UNet++", ".pointconv", "pointconv_grid",
                  options=("covariates", "met_stations", "model_path", "device", "threads", "residual_kriging")),
)}


def method_keys():
    return list(METHODS)
