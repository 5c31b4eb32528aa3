"""Wind at the stations, per time step: from a meteorological station series (speed and
direction, or u/v) interpolated per hour, or from u/v raster stacks (bands = times).

Directions follow the meteorological convention (where the wind comes FROM, degrees clockwise
from north, or one of the 16 compass points as in UCI's ``wd``); u is eastward, v northward.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import List, Optional, Sequence

import numpy as np

from ..errors import AirmapInputError

COMPASS = ("N", "NNE", "NE", "ENE", "E", "ESE", "SE", "SSE", "S", "SSW", "SW", "WSW", "W", "WNW", "NW", "NNW")
CALM = ("C", "CALM", "CV")  # calm / variable: no direction, no advection


def direction_degrees(values: Sequence) -> np.ndarray:
    """Degrees from numbers, numeric text or compass points; NaN for empty or calm."""
    out = np.full(len(values), np.nan)
    for i, v in enumerate(values):
        if v is None:
            continue
        if isinstance(v, (int, float, np.floating, np.integer)):
            out[i] = float(v)
            continue
        text = str(v).strip().upper()
        if not text or text in CALM or text in ("NULL", "NAN"):
            continue
        if text in COMPASS:
            out[i] = COMPASS.index(text) * 22.5
            continue
        try:
            out[i] = float(text)
        except ValueError:
            raise AirmapInputError(f"Wind direction '{v}' is neither degrees nor a compass point "
                                   f"({', '.join(COMPASS)}): fix WIND_DIRECTION_FIELD.") from None
    bad = np.isfinite(out) & ((out < 0) | (out > 360))
    if bad.any():
        raise AirmapInputError(f"Wind directions must be 0-360 degrees, got {out[bad][0]:g}: fix WIND_DIRECTION_FIELD.")
    return out


def wind_uv(speed: np.ndarray, direction_deg: np.ndarray):
    """(u, v) of a wind blowing FROM ``direction_deg`` at ``speed``; calm (no direction) is 0."""
    speed = np.asarray(speed, dtype=np.float64)
    theta = np.deg2rad(np.asarray(direction_deg, dtype=np.float64))
    u = -speed * np.sin(theta)
    v = -speed * np.cos(theta)
    calm = ~np.isfinite(theta) & np.isfinite(speed)
    u[calm], v[calm] = 0.0, 0.0
    return u, v


@dataclass
class Wind:
    """u, v (m/s) at each station and time, NaN where unknown (diffusion only there)."""

    u: np.ndarray  # (S, T)
    v: np.ndarray  # (S, T)
    source: str

    @property
    def known(self) -> np.ndarray:
        return np.isfinite(self.u) & np.isfinite(self.v)

    def filled(self):
        """(u, v) with unknown wind as 0 m/s: the advection kernel then adds nothing."""
        known = self.known
        return np.where(known, self.u, 0.0).astype(np.float32), np.where(known, self.v, 0.0).astype(np.float32)


def filled_wind(wind: Optional[Wind], shape):
    """(u, v) of ``wind`` with unknown wind as 0 m/s, or zeros of ``shape`` when there is no wind."""
    if wind is None:
        return np.zeros(shape, np.float32), np.zeros(shape, np.float32)
    return wind.filled()


def local_km(lon: np.ndarray, lat: np.ndarray, lat0: Optional[float] = None):
    """Equirectangular kilometres around ``lat0``: accurate to < 1 % over a city region."""
    lat0 = float(np.nanmean(lat)) if lat0 is None else lat0
    radius = 6371.0
    return (np.deg2rad(lon) * radius * np.cos(np.deg2rad(lat0)), np.deg2rad(lat) * radius)


def interpolate_met(met_lon, met_lat, met_u: np.ndarray, met_v: np.ndarray, lon, lat) -> Wind:
    """Per time step, inverse-distance weighting of the met stations that report (u and v
    separately, so opposite winds cancel as vectors do)."""
    from ..baselines import idw_at
    from ..stations import Stations

    mx, my = local_km(np.asarray(met_lon), np.asarray(met_lat), float(np.mean(lat)))
    sx, sy = local_km(np.asarray(lon), np.asarray(lat), float(np.mean(lat)))
    steps = met_u.shape[1]
    u = np.full((len(lon), steps), np.nan)
    v = np.full((len(lon), steps), np.nan)
    for t in range(steps):
        have = np.isfinite(met_u[:, t]) & np.isfinite(met_v[:, t])
        if not have.any():
            continue
        u[:, t] = idw_at(Stations(mx[have], my[have], met_u[have, t]), sx, sy)
        v[:, t] = idw_at(Stations(mx[have], my[have], met_v[have, t]), sx, sy)
    return Wind(u, v, f"{len(met_lon)} meteorological stations, inverse-distance weighted per time step")


def sample_stack(stack: np.ndarray, grid, band_times: np.ndarray, x, y, times: np.ndarray) -> np.ndarray:
    """(S, T) values of a (B, H, W) stack at points (x, y in the stack's CRS) and times: each
    time takes the band with the same stamp, NaN where none matches or outside the grid."""
    inside = grid.contains(np.asarray(x), np.asarray(y))
    row, col = grid.rowcol(np.asarray(x), np.asarray(y))
    out = np.full((len(x), times.size), np.nan, dtype=np.float64)
    index = {t: b for b, t in enumerate(band_times)}
    for k, t in enumerate(times):
        b = index.get(t)
        if b is not None:
            out[inside, k] = stack[b, row[inside], col[inside]]
    return out


def coverage_note(wind: Optional[Wind], ids: Sequence[str]) -> List[str]:
    """Log lines saying where the advection kernel is off (no wind) so SPIN diffuses only."""
    if wind is None:
        return ["No wind was given: SPIN runs with its diffusion kernel only (no advection)."]
    known = wind.known
    notes = [f"Wind from {wind.source}."]
    none = [str(i) for i, k in zip(ids, known.any(axis=1)) if not k]
    if none:
        notes.append(f"{len(none)} station(s) have no wind at any time ({', '.join(none[:10])}"
                     f"{', ...' if len(none) > 10 else ''}): diffusion only from them.")
    share = 1.0 - known.mean()
    if share > 0:
        notes.append(f"Wind is unknown at {100 * share:.1f} % of station-times: diffusion only there.")
    return notes
