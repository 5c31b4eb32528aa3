"""Wide station tables (one row per time, one column per station, as the AQI-36 CSV) and
their long form (one record per station and time)."""
from __future__ import annotations

import csv
from typing import Dict, List, Optional, Tuple

import numpy as np

from ..errors import AirmapInputError
from .times import as_datetime64, parse_time, to_naive


def read_wide_csv(path: str, time_column: Optional[str] = None) -> Tuple[List[str], np.ndarray, np.ndarray]:
    """(station columns, times (T,) datetime64[s], values (T, C) float32 with NaN for empty cells)."""
    try:
        with open(path, newline="") as fh:
            reader = csv.reader(fh)
            header = next(reader, None)
            rows = list(reader)
    except OSError as exc:
        raise AirmapInputError(f"Cannot read the table '{path}' ({exc}): choose a CSV file.") from exc
    if not header or not rows:
        raise AirmapInputError(f"'{path}' has no header or no rows: choose a CSV with one time column and one "
                               "column per station.")
    time_column = time_column or header[0]
    if time_column not in header:
        raise AirmapInputError(f"'{path}' has no column '{time_column}': choose one of {', '.join(header[:8])}.")
    tcol = header.index(time_column)
    stamps = [parse_time(r[tcol]) if len(r) > tcol else None for r in rows]
    if any(s is None for s in stamps):
        bad = next(r[tcol] for r, s in zip(rows, stamps) if s is None)
        raise AirmapInputError(f"Column '{time_column}' holds a value that is not a time ('{bad}'): choose the "
                               "time column.")
    naive, _ = to_naive(stamps, f"column '{time_column}'")
    columns = [h for i, h in enumerate(header) if i != tcol]
    values = np.full((len(rows), len(columns)), np.nan, dtype=np.float32)
    for r, row in enumerate(rows):
        cells = [c for i, c in enumerate(row) if i != tcol]
        for c, cell in enumerate(cells[:len(columns)]):
            cell = cell.strip()
            if cell and cell.lower() not in ("nan", "na", "null"):
                try:
                    values[r, c] = float(cell)
                except ValueError:
                    raise AirmapInputError(f"'{path}' row {r + 2}, column '{columns[c]}' is not a number "
                                           f"('{cell}').") from None
    return columns, as_datetime64(naive), values


def long_records(columns: List[str], times: np.ndarray, values: np.ndarray,
                 locations: Dict[str, Tuple[float, float]]):
    """(station id, lon, lat, time, value) records for the columns that have a location; also
    the columns left out. Empty cells are left out (a gap is an absent record)."""
    used = [c for c in columns if c in locations]
    missing = [c for c in columns if c not in locations]
    if not used:
        raise AirmapInputError("No column of the table matches a station id of the station layer: choose the "
                               f"id field whose values are the table's column names (e.g. {', '.join(columns[:3])}).")
    records = []
    for c in used:
        j = columns.index(c)
        lon, lat = locations[c]
        for t in np.flatnonzero(np.isfinite(values[:, j])):
            records.append((c, lon, lat, times[t], float(values[t, j])))
    return records, missing
