"""A finished simulation: the true fields and the products derived from them (coarse model
fields, station networks, satellite retrievals with cloud gaps), and writing it all to disk."""
from __future__ import annotations

import csv
import os
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Dict, List, Optional, Tuple

import numpy as np

from ..errors import AirmapInputError
from ..grid import Grid
from ..raster_io import write_raster
from ..stations import Stations
from .fields import gaussian_field, smooth

UNITS = {"pm25": "ug/m3", "rh": "%", "wind_speed": "m/s", "u": "m/s", "v": "m/s",
         "dem": "m", "urban": "1"}


@dataclass
class Scenario:
    grid: Grid                       # projected, metres
    pm25_hourly: np.ndarray          # (T, H, W) float32, ug/m3, instantaneous at each hour
    rh_hourly: np.ndarray            # (T, H, W) float32, %
    wind_speed_hourly: np.ndarray    # (T, H, W) float32, m/s
    u_hourly: np.ndarray             # (T, H, W) float32, m/s eastward
    v_hourly: np.ndarray             # (T, H, W) float32, m/s northward
    dem: np.ndarray                  # (H, W) float32, m
    urban: np.ndarray                # (H, W) float32 in [0, 1]
    times: List[str]                 # ISO time of each hour (local solar time)
    seed: int = 0
    blh_hourly: Optional[np.ndarray] = None   # (T,) m, boundary-layer height
    rain_daily: Optional[np.ndarray] = None   # (D, H, W) float32, mm/day
    emission: Optional[np.ndarray] = None     # (H, W) mean primary emission, ug m-2 s-1
    point_sources: list = field(default_factory=list)
    budget: Dict[str, float] = field(default_factory=dict)
    config: object = None

    # ------------------------------------------------------------------------------------
    @property
    def n_days(self) -> int:
        return self.pm25_hourly.shape[0] // 24

    @property
    def pm25_daily(self) -> np.ndarray:
        """(D, H, W) float32 daily means (cached: computed once)."""
        cached = self.__dict__.get("_pm25_daily")
        if cached is None:
            cached = daily_mean(self.pm25_hourly)
            self.__dict__["_pm25_daily"] = cached
        return cached

    @property
    def days(self) -> List[str]:
        return [t[:10] for t in self.times[::24]][: self.n_days]

    def daily(self, variable: str) -> np.ndarray:
        return daily_mean(getattr(self, variable))

    # --- coarse, CAMS-like product --------------------------------------------------------
    def coarse(self, factor: int = 3, step: int = 3, variable: str = "pm25_hourly") -> np.ndarray:
        """(T//step, H//factor, W//factor): factor x factor block means of the fields at hours
        0, step, 2*step, ... (instantaneous snapshots, like a 3-hourly reanalysis); partial
        blocks at the edges are dropped, matching ``Grid.coarsened``."""
        factor, step = int(factor), int(step)
        if factor < 1 or step < 1:
            raise AirmapInputError("coarse(): factor and step must be whole numbers >= 1.")
        data = getattr(self, variable)
        t, h, w = data.shape
        hc, wc = h // factor, w // factor
        if hc < 1 or wc < 1:
            raise AirmapInputError(f"coarse(): factor {factor} leaves no cell of a {h} x {w} grid.")
        frames = data[0:(t // step) * step:step, :hc * factor, :wc * factor].astype(np.float64)
        blocks = frames.reshape(-1, hc, factor, wc, factor).mean(axis=(2, 4))
        return blocks.astype(np.float32)

    def coarse_grid(self, factor: int = 3) -> Grid:
        return self.grid.coarsened(factor)

    def coarse_times(self, step: int = 3) -> List[str]:
        return self.times[0:(len(self.times) // step) * step:step]

    # --- stations -----------------------------------------------------------------------------
    def station_sites(self, n: int, rng: np.random.Generator) -> Tuple[np.ndarray, ...]:
        """(rows, cols, x, y) of ``n`` monitoring sites, one per cell at most.

        Networks are dense in cities and sparse in the countryside: the chance of a cell hosting
        a site follows its urban fraction (smoothed over ~2 cells) plus a small rural floor.
        """
        h, w = self.urban.shape
        n = int(n)
        if not 1 <= n <= h * w:
            raise AirmapInputError(f"The number of stations must lie between 1 and {h * w}, got {n}.")
        weight = smooth(self.urban.astype(np.float64), 1.5) ** 1.2 + 0.015
        cells = rng.choice(h * w, size=n, replace=False, p=weight.ravel() / weight.sum())
        rows, cols = np.divmod(cells, w)
        jitter = rng.uniform(0.05, 0.95, size=(2, n))
        t = self.grid.transform
        x = t.c + t.a * (cols + jitter[0])
        y = t.f + t.e * (rows + jitter[1])
        return rows, cols, x, y

    def sample_stations(self, n: int, day: int, rng: np.random.Generator, noise: float = 0.0,
                        sites=None):
        """Daily-mean PM2.5 at ``n`` urban-clustered sites on ``day`` (index into pm25_daily).

        ``noise`` is the measurement error as a fraction of the value (std of a multiplicative
        Gaussian error, e.g. 0.1 = 10 %); values stay >= 0. ``groups`` are 4 x 4 spatial blocks
        of the domain, for leave-groups-out cross-validation. Pass ``sites`` (from
        ``station_sites``) to sample the same network on several days.
        """
        day = int(day)
        if not 0 <= day < self.n_days:
            raise AirmapInputError(f"day must lie between 0 and {self.n_days - 1}, got {day}.")
        if not (np.isfinite(noise) and noise >= 0):
            raise AirmapInputError(f"noise must be a fraction >= 0, got {noise}.")
        rows, cols, x, y = sites if sites is not None else self.station_sites(n, rng)
        values = self.pm25_daily[day][rows, cols].astype(np.float64)
        if noise > 0:
            values = np.maximum(values * (1.0 + noise * rng.standard_normal(values.shape)), 0.0)
        h, w = self.urban.shape
        groups = (rows * 4 // h) * 4 + (cols * 4 // w)
        ids = np.array([f"S{i + 1:04d}" for i in range(len(rows))])
        return make_stations(x, y, values, ids, groups)

    def station_series(self, sites, variable: str = "pm25_hourly", noise: float = 0.0,
                       rng: Optional[np.random.Generator] = None) -> np.ndarray:
        """(T, n) hourly series of ``variable`` at sites from ``station_sites``."""
        rows, cols = sites[0], sites[1]
        series = getattr(self, variable)[:, rows, cols].astype(np.float64)
        if noise > 0:
            rng = rng if rng is not None else np.random.default_rng(0)
            series = np.maximum(series * (1.0 + noise * rng.standard_normal(series.shape)), 0.0)
        return series

    # --- satellite ----------------------------------------------------------------------------
    def satellite(self, day: int, rng: np.random.Generator, cloud_fraction: float = 0.3) -> np.ndarray:
        """Daily PM2.5 with cloud gaps (NaN) covering ``cloud_fraction`` of the cells.

        Clouds are blobs ~30 km across, more likely where the air is humid that day.
        """
        day = int(day)
        if not 0 <= day < self.n_days:
            raise AirmapInputError(f"day must lie between 0 and {self.n_days - 1}, got {day}.")
        if not 0.0 <= cloud_fraction < 1.0:
            raise AirmapInputError(f"cloud_fraction must lie in [0, 1), got {cloud_fraction}.")
        field_ = self.pm25_daily[day].copy()
        if cloud_fraction == 0:
            return field_
        km = self.grid.res[0] / 1000.0
        blobs = gaussian_field(field_.shape, max(15.0 / km, 1.0), rng)
        rh = self.rh_hourly[day * 24:(day + 1) * 24].mean(axis=0)
        rh = (rh - rh.mean()) / max(float(rh.std()), 1e-6)
        cloudiness = blobs + 0.5 * rh
        field_[cloudiness > np.quantile(cloudiness, 1.0 - cloud_fraction)] = np.nan
        return field_

    # --- writing ----------------------------------------------------------------------------------
    def write(self, folder: str, n_stations: int = 120, noise: float = 0.05,
              station_seed: Optional[int] = None, cloud_fraction: float = 0.3,
              written: Optional[list] = None, progress=None, protect=()) -> Dict[str, str]:
        """Write every product as GeoTIFFs named after their variable, plus ``stations.csv``.

        Band names are the times. Returns {name: path}. Stations: one network sampled with
        ``n_stations`` and ``noise``; columns site_id, x, y, group, urban, pm25 (day 1) and
        pm25_<date> for every day; coordinates in the grid's CRS. Each path is appended to
        ``written`` as soon as it exists, so a caller can remove them if a later step fails;
        paths in ``protect`` (the inputs) are never overwritten.
        """
        os.makedirs(folder, exist_ok=True)
        written = written if written is not None else []
        rng = np.random.default_rng(self.seed + 7919 if station_seed is None else station_seed)
        daily_times = self.days
        out = {}
        hourly = [("pm25_hourly", self.pm25_hourly, "ug/m3"), ("rh_hourly", self.rh_hourly, "%"),
                  ("wind_speed_hourly", self.wind_speed_hourly, "m/s"),
                  ("u_hourly", self.u_hourly, "m/s"), ("v_hourly", self.v_hourly, "m/s")]
        sat = np.stack([self.satellite(d, rng, cloud_fraction) for d in range(self.n_days)])
        products = hourly + [
            ("pm25_daily", self.pm25_daily, "ug/m3", self.grid, daily_times),
            ("pm25_coarse_3h", self.coarse(3, 3), "ug/m3", self.coarse_grid(3), self.coarse_times(3)),
            ("pm25_satellite_daily", sat, "ug/m3", self.grid, daily_times),
            ("dem", self.dem[None], "m", self.grid, ["dem"]),
            ("urban", self.urban[None], "1", self.grid, ["urban"])]
        for i, item in enumerate(products):
            name, data, units = item[:3]
            grid, names = item[3:] if len(item) > 3 else (self.grid, self.times)
            path = os.path.join(folder, name + ".tif")
            written.append(path)
            out[name] = _write(path, data, grid, names, units, protect)
            if progress is not None:
                progress.set((i + 1) / (len(products) + 1))
        path = os.path.join(folder, "stations.csv")
        written.append(path)
        out["stations"] = self.write_stations(path, n_stations, noise, rng)
        return out

    def station_table(self, n_stations: int, noise: float, rng: np.random.Generator):
        """Rows (dicts) of one network sampled on every day; used by write() and the algorithm."""
        sites = self.station_sites(n_stations, rng)
        per_day = [self.sample_stations(n_stations, d, rng, noise, sites=sites)
                   for d in range(self.n_days)]
        first = per_day[0]
        rows = []
        for i in range(len(first.x)):
            row = {"site_id": str(first.ids[i]), "x": float(first.x[i]), "y": float(first.y[i]),
                   "group": int(first.groups[i]),
                   "urban": round(float(self.urban[sites[0][i], sites[1][i]]), 4),
                   "pm25": round(float(first.values[i]), 3)}
            for day_name, st in zip(self.days, per_day):
                row["pm25_" + day_name.replace("-", "")] = round(float(st.values[i]), 3)
            rows.append(row)
        return rows

    def write_stations(self, path: str, n_stations: int, noise: float,
                       rng: np.random.Generator) -> str:
        rows = self.station_table(n_stations, noise, rng)
        tmp = path + ".part"
        with open(tmp, "w", newline="") as fh:
            writer = csv.DictWriter(fh, fieldnames=list(rows[0].keys()))
            writer.writeheader()
            writer.writerows(rows)
        os.replace(tmp, path)
        return path


def daily_mean(hourly: np.ndarray) -> np.ndarray:
    t = (hourly.shape[0] // 24) * 24
    return hourly[:t].reshape(-1, 24, *hourly.shape[1:]).mean(axis=1, dtype=np.float64).astype(np.float32)


def hour_stamps(start: str, n: int) -> List[str]:
    t0 = datetime.fromisoformat(start)
    return [(t0 + timedelta(hours=k)).isoformat(timespec="seconds") for k in range(n)]


def make_stations(x, y, values, ids=None, groups=None):
    """A ``core.stations.Stations`` (the shared station type)."""
    return Stations(np.asarray(x, float), np.asarray(y, float), np.asarray(values, float),
                    ids=ids, groups=groups)


def _write(path: str, data: np.ndarray, grid: Grid, band_names, units, protect=()) -> str:
    write_raster(path, data, grid, band_names=list(band_names), units=units, protect=protect)
    return path
