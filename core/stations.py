"""Station observations as plain arrays, QGIS-free.

Algorithms turn a QGIS point layer into ``Stations`` (provider/layers.py); benchmarks and
tests read CSVs here. Coordinates are in the CRS of the grid they are used with.
"""
from __future__ import annotations

import csv
from dataclasses import dataclass
from typing import Optional, Tuple

import numpy as np

from .errors import AirmapInputError
from .grid import Grid


@dataclass
class Stations:
    x: np.ndarray
    y: np.ndarray
    values: np.ndarray
    ids: Optional[np.ndarray] = None
    groups: Optional[np.ndarray] = None

    def __post_init__(self):
        self.x = np.asarray(self.x, dtype=np.float64)
        self.y = np.asarray(self.y, dtype=np.float64)
        self.values = np.asarray(self.values, dtype=np.float64)
        if not (self.x.shape == self.y.shape == self.values.shape):
            raise ValueError("x, y and values must have the same length")

    def __len__(self) -> int:
        return int(self.values.size)

    def subset(self, mask: np.ndarray) -> "Stations":
        pick = lambda a: None if a is None else np.asarray(a)[mask]
        return Stations(self.x[mask], self.y[mask], self.values[mask], pick(self.ids), pick(self.groups))

    def by_date(self) -> dict:
        """{date: Stations} from the per-station date values in ``groups`` (any format
        ``core.timestamps.parse_date`` reads), or {None: all} when there are none (one day)."""
        if self.groups is None:
            return {None: self}
        from .timestamps import parse_date

        parsed = np.array([parse_date(d) for d in self.groups])
        return {day: self.subset(parsed == day) for day in sorted(set(parsed))}

    def valid(self) -> Tuple["Stations", int]:
        """Stations with finite coordinates and values, and how many were dropped."""
        keep = np.isfinite(self.x) & np.isfinite(self.y) & np.isfinite(self.values)
        return self.subset(keep), int((~keep).sum())


def require_stations(stations: Stations, minimum: int, method: str) -> None:
    """Raise a clear error when a method gets too few usable stations."""
    if len(stations) == 0:
        raise AirmapInputError("No station has a usable value: choose a layer with points and a numeric "
                               "FIELD that is not all NULL.")
    if len(stations) < minimum:
        raise AirmapInputError(f"{method} needs at least {minimum} stations with values, got {len(stations)}: "
                               "add stations or choose a method that needs fewer (e.g. IDW).")


def read_station_csv(path: str, field: str, x: str = "lon", y: str = "lat",
                     group: Optional[str] = None) -> Stations:
    """Stations from a CSV with coordinate columns; rows whose value is empty/NaN are dropped."""
    with open(path, newline="") as fh:
        rows = list(csv.DictReader(fh))
    if not rows or field not in rows[0]:
        raise AirmapInputError(f"'{path}' has no column '{field}'.")

    def num(v):
        try:
            return float(v)
        except (TypeError, ValueError):
            return np.nan

    st = Stations([num(r[x]) for r in rows], [num(r[y]) for r in rows], [num(r[field]) for r in rows],
                  np.arange(len(rows)), np.array([r[group] for r in rows]) if group else None)
    return st.valid()[0]


def average_per_cell(stations: Stations, grid: Grid) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(rows, cols, mean value) of grid cells holding stations; several in one cell are averaged."""
    inside = grid.contains(stations.x, stations.y)
    row, col = grid.rowcol(stations.x[inside], stations.y[inside])
    flat = row * grid.width + col
    cells, inverse = np.unique(flat, return_inverse=True)
    sums = np.bincount(inverse, weights=stations.values[inside])
    counts = np.bincount(inverse)
    return cells // grid.width, cells % grid.width, sums / counts
