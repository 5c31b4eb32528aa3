"""Station time series: a stations x times table with gaps, read from long-format records.

Long format (one record per station and time) is what QGIS's temporal controller animates, so
airmap reads it and writes it. Stations are told apart by an id when there is one, else by
their coordinates. Coordinates are longitude/latitude (WGS 84): the graphs of SPIN and IGNNK
are built in kilometres from them.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import List, Optional, Sequence

import numpy as np

from ..errors import AirmapInputError
from .times import as_datetime64, parse_time, regular_axis, to_naive


@dataclass
class StationSeries:
    ids: np.ndarray          # (S,) str
    lon: np.ndarray          # (S,) degrees
    lat: np.ndarray          # (S,) degrees
    times: np.ndarray        # (T,) datetime64[s], regular
    values: np.ndarray       # (S, T) float32, NaN = no measurement
    zone: Optional[str] = None  # the input's time zone when it named one
    notes: List[str] = field(default_factory=list)

    def __post_init__(self):
        self.ids = np.asarray(self.ids).astype(str)
        self.lon = np.asarray(self.lon, dtype=np.float64)
        self.lat = np.asarray(self.lat, dtype=np.float64)
        self.values = np.asarray(self.values, dtype=np.float32)
        if self.values.shape != (self.ids.size, self.times.size):
            raise ValueError("values must be (stations, times)")

    @property
    def step(self) -> np.timedelta64:
        return self.times[1] - self.times[0] if self.times.size > 1 else np.timedelta64(3600, "s")

    def __len__(self) -> int:
        return int(self.ids.size)

    def subset(self, keep: np.ndarray) -> "StationSeries":
        return StationSeries(self.ids[keep], self.lon[keep], self.lat[keep], self.times, self.values[keep], self.zone)

    def between(self, start=None, end=None) -> "StationSeries":
        """The series limited to [start, end] (datetime64 or None)."""
        keep = np.ones(self.times.size, bool)
        if start is not None:
            keep &= self.times >= start
        if end is not None:
            keep &= self.times <= end
        if not keep.any():
            raise AirmapInputError(f"No time of the series ({self.times[0]} .. {self.times[-1]}) lies between "
                                   f"START and END: widen START/END.")
        return StationSeries(self.ids, self.lon, self.lat, self.times[keep], self.values[:, keep], self.zone)


def series_from_records(lon: Sequence[float], lat: Sequence[float], times: Sequence, values: Sequence[float],
                        station_ids: Optional[Sequence] = None, what: str = "TIME_FIELD") -> StationSeries:
    """Long-format records -> StationSeries. Unsorted records are fine; records without a time
    are dropped; a station measured twice at one time gets the mean (said in ``notes``)."""
    lon = np.asarray(lon, dtype=np.float64)
    lat = np.asarray(lat, dtype=np.float64)
    vals = np.asarray(values, dtype=np.float64)
    parsed = [parse_time(t) for t in times]
    unreadable = sum(p is None for p, t in zip(parsed, times) if t not in (None, ""))
    if unreadable:
        example = next(t for p, t in zip(parsed, times) if p is None and t not in (None, ""))
        raise AirmapInputError(f"{unreadable} values of {what} are not times (e.g. '{example}'): use a date/time "
                               "field or ISO text such as 2014-11-01T13:00:00.")
    naive, zone = to_naive(parsed, what)
    ok = np.array([p is not None for p in naive]) & np.isfinite(lon) & np.isfinite(lat)
    if not ok.any():
        raise AirmapInputError(f"No record has both a location and a time ({what}): check the layer.")
    stamps = as_datetime64([p for p, k in zip(naive, ok) if k])
    lon, lat, vals = lon[ok], lat[ok], vals[ok]
    if station_ids is not None:
        keys = np.asarray([str(s) for s in station_ids], dtype=object)[ok].astype(str)
    else:  # the same place is the same station
        keys = np.array([f"{a:.6f} {b:.6f}" for a, b in zip(lon, lat)])
    ids, first, station = np.unique(keys, return_index=True, return_inverse=True)
    station = station.ravel()
    axis, step = regular_axis(stamps, what)
    col = ((stamps - axis[0]) // step).astype(np.int64)
    notes: List[str] = []
    flat = station * axis.size + col
    finite = np.isfinite(vals)
    sums = np.bincount(flat[finite], weights=vals[finite], minlength=ids.size * axis.size)
    counts = np.bincount(flat[finite], minlength=ids.size * axis.size)
    duplicates = int((counts > 1).sum())
    if duplicates:
        notes.append(f"{duplicates} station-times were measured more than once: their mean is used.")
    with np.errstate(invalid="ignore", divide="ignore"):
        table = np.where(counts > 0, sums / np.maximum(counts, 1), np.nan).reshape(ids.size, axis.size)
    gaps = int(np.isnan(table).sum())
    if gaps:
        notes.append(f"{gaps} of {table.size} station-times have no value (gaps): they are inferred like the "
                     "places without a station.")
    series = StationSeries(ids, lon[first], lat[first], axis, table.astype(np.float32), zone, notes)
    return series


def require_usable(series: StationSeries, minimum: int = 2) -> None:
    """Enough stations, each with some data, and times where several stations overlap."""
    measured = np.isfinite(series.values)
    stations = int(measured.any(axis=1).sum())
    if stations < minimum:
        raise AirmapInputError(f"The series has {stations} station(s) with values; spatiotemporal kriging needs at "
                               f"least {minimum}: add stations (or check STATION_FIELD tells them apart).")
    if (measured.sum(axis=0) >= 2).sum() == 0:
        raise AirmapInputError("No time has values at two stations or more (the stations' series do not "
                               "overlap in time): choose series that share a period.")
