"""Band names as time stamps, and the names of frames inserted between them."""
from __future__ import annotations

import re
from datetime import datetime
from typing import List, Optional, Sequence

from .errors import AirmapInputError

DATE_FORMATS = ("%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M",
                "%Y-%m-%d", "%Y/%m/%d", "%Y%m%d")
_QT_DATE = re.compile(r"QDate(?:Time)?\((\d+),\s*(\d+),\s*(\d+)")

ISO = "%Y-%m-%dT%H:%M:%S"


def _parse(name: str) -> Optional[datetime]:
    for fmt in (ISO, "%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M", "%Y-%m-%d"):
        try:
            return datetime.strptime(name.strip(), fmt)
        except (ValueError, AttributeError):
            continue
    return None


def refine_times(names: Sequence[str], factor: int) -> List[str]:
    """Names of the factor*(T-1)+1 frames of a stack refined ×factor in time.

    Time stamps get the inserted instants (e.g. 03:00, 06:00 -> 03:00, 04:00, 05:00, 06:00);
    other names get 'name +1/3' style labels so each band still says where it came from.
    """
    times = [_parse(n) for n in names]
    out: List[str] = []
    for i in range(len(names) - 1):
        out.append(names[i])
        for j in range(1, factor):
            if times[i] is not None and times[i + 1] is not None:
                out.append((times[i] + (times[i + 1] - times[i]) * j / factor).strftime(ISO))
            else:
                out.append(f"{names[i]} +{j}/{factor}")
    if names:
        out.append(names[-1])
    return out


def parse_date(value) -> str:
    """A DATE_FIELD value (ISO text, YYYYMMDD, a QGIS date or date-time) -> 'YYYY-MM-DD[THH:MM:SS]';
    anything else is an AirmapInputError that names the value and the formats understood."""
    text = str(value).strip()
    match = _QT_DATE.search(text)
    if match:
        return datetime(*(int(g) for g in match.groups())).strftime("%Y-%m-%d")
    for fmt in DATE_FORMATS:
        try:
            stamp = datetime.strptime(text, fmt)
        except ValueError:
            continue
        return stamp.strftime("%Y-%m-%d" if stamp.hour == stamp.minute == stamp.second == 0 else ISO)
    raise AirmapInputError(f"DATE_FIELD value '{text}' is not a date airmap can read: use a date field, or text "
                           "as YYYY-MM-DD, YYYY-MM-DD HH:MM[:SS], YYYY/MM/DD or YYYYMMDD.")
