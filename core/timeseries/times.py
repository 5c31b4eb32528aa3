"""Time stamps of station series: parsing (datetime, date, ISO text), one time zone, one step."""
from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from typing import List, Optional, Sequence, Tuple

import numpy as np

from ..errors import AirmapInputError

_FORMATS = ("%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M",
            "%Y/%m/%d %H:%M:%S", "%Y/%m/%d %H:%M", "%Y-%m-%d", "%Y/%m/%d")


def parse_time(value) -> Optional[datetime]:
    """A datetime (aware if the input says its zone) from a datetime, a date or ISO-like text;
    None when empty or unreadable."""
    if value is None:
        return None
    if isinstance(value, datetime):
        return value
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day)
    text = str(value).strip()
    if not text:
        return None
    try:  # ISO 8601 with 'Z' or an offset (+08:00)
        return datetime.fromisoformat(text[:-1] + "+00:00" if text.endswith("Z") else text)
    except ValueError:
        pass
    for fmt in _FORMATS:
        try:
            return datetime.strptime(text, fmt)
        except ValueError:
            continue
    return None


def to_naive(stamps: Sequence[Optional[datetime]], what: str = "TIME_FIELD") -> Tuple[List[Optional[datetime]], Optional[str]]:
    """Drop the time zone after checking there is only one; returns (naive stamps, zone label).

    Mixed zones (some stamps with an offset and some without, or two offsets) are refused:
    hours from different clocks would be silently misaligned."""
    offsets = {s.utcoffset() for s in stamps if s is not None}
    if len(offsets) > 1:
        shown = ", ".join(sorted("no zone" if o is None else _offset_label(o) for o in offsets))
        raise AirmapInputError(f"{what} mixes time zones ({shown}): convert every time to one zone "
                               "(e.g. UTC with the Field Calculator) and run again.")
    zone = None
    if offsets and next(iter(offsets)) is not None:
        zone = _offset_label(next(iter(offsets)))
    return [None if s is None else s.replace(tzinfo=None) for s in stamps], zone


def _offset_label(offset: timedelta) -> str:
    return "UTC" + datetime.now(timezone(offset)).strftime("%z")


def as_datetime64(stamps: Sequence[datetime]) -> np.ndarray:
    return np.array(stamps, dtype="datetime64[s]")


def regular_axis(stamps: np.ndarray, what: str = "TIME_FIELD") -> Tuple[np.ndarray, np.timedelta64]:
    """The regular axis (first .. last, one step) that holds every stamp; the step is the most
    common gap between consecutive distinct stamps, and every stamp must sit on the axis."""
    distinct = np.unique(stamps)
    if distinct.size < 2:
        raise AirmapInputError(f"The series has a single time step ({what}): give at least two times.")
    gaps = np.diff(distinct).astype("timedelta64[s]").astype(np.int64)
    values, counts = np.unique(gaps, return_counts=True)
    step = int(values[np.argmax(counts)])
    offset = (distinct - distinct[0]).astype("timedelta64[s]").astype(np.int64)
    off_axis = offset % step != 0
    if off_axis.any():
        raise AirmapInputError(f"{int(off_axis.sum())} times are not on the series' {step // 60}-minute step "
                               f"(e.g. {distinct[off_axis][0]}): resample the series to a regular step.")
    count = int(offset[-1] // step) + 1
    return distinct[0] + np.arange(count) * np.timedelta64(step, "s"), np.timedelta64(step, "s")


def iso(stamps: np.ndarray) -> List[str]:
    """ISO text of datetime64 stamps (band descriptions of hourly rasters)."""
    return [str(t.astype("datetime64[s]")) for t in stamps]
