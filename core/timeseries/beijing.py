"""The Beijing AQI-36 benchmark (hourly PM2.5 at 36 stations) with the UCI wind at 12 of them:
the data SPIN and IGNNK are trained and benchmarked on (``../shared/data/beijing``).

The split is the one of the issue: train on 2014-05 .. 2014-10, score 2014-11 .. 2014-12 with a
fixed share of the stations hidden. The hidden sets are nested (the 25 % set is part of the
50 % set), and the 50 % set is never seen in training, so every scored station is new to the
models.
"""
from __future__ import annotations

import csv
import os
from typing import Tuple

import numpy as np

from .series import StationSeries
from .wide import read_wide_csv
from .wind import Wind, direction_degrees, interpolate_met, wind_uv

TEST_START = np.datetime64("2014-11-01T00:00:00")
HIDDEN_SEED = 1          # DESIGN.md's seed for SPIN / IGNNK
TRAINING_EXCLUDES = 0.5  # the largest hidden share of the bench: never trained on


def data_dir() -> str:
    here = os.path.dirname(os.path.realpath(__file__))
    return os.path.normpath(os.path.join(here, "..", "..", "..", "shared", "data", "beijing"))


def load_pm25(folder: str = None) -> StationSeries:
    folder = folder or data_dir()
    columns, times, values = read_wide_csv(os.path.join(folder, "pm25_hourly.csv"))
    with open(os.path.join(folder, "stations.csv"), newline="") as fh:
        where = {r["sensor_id"]: (float(r["longitude"]), float(r["latitude"])) for r in csv.DictReader(fh)}
    lon = np.array([where[c][0] for c in columns])
    lat = np.array([where[c][1] for c in columns])
    return StationSeries(np.array(columns), lon, lat, times, values.T)


def load_met(times: np.ndarray, folder: str = None):
    """UCI met stations: (lon, lat, u, v) with u/v (12, T) on ``times`` (NaN where missing)."""
    folder = folder or data_dir()
    with open(os.path.join(folder, "uci_stations.csv"), newline="") as fh:
        sites = {r["station"]: (float(r["lon"]), float(r["lat"])) for r in csv.DictReader(fh)}
    names = sorted(sites)
    u = np.full((len(names), times.size), np.nan)
    v = np.full((len(names), times.size), np.nan)
    index = {t: k for k, t in enumerate(times)}
    with open(os.path.join(folder, "uci_hourly_met_and_pollutants.csv"), newline="") as fh:
        rows = list(csv.DictReader(fh))
    stamps = np.array([r["datetime"] for r in rows], dtype="datetime64[s]")
    speed = np.array([float(r["WSPM"]) if r["WSPM"] else np.nan for r in rows])
    uu, vv = wind_uv(speed, direction_degrees([r["wd"] for r in rows]))
    uu[~np.isfinite(speed)] = np.nan
    vv[~np.isfinite(speed)] = np.nan
    for r, t, a, b in zip(rows, stamps, uu, vv):
        k = index.get(t)
        if k is not None:
            s = names.index(r["station"])
            u[s, k], v[s, k] = a, b
    lon = np.array([sites[n][0] for n in names])
    lat = np.array([sites[n][1] for n in names])
    return lon, lat, u, v


def load(folder: str = None) -> Tuple[StationSeries, Wind]:
    """PM2.5 series of the 36 stations and the UCI wind interpolated to them."""
    series = load_pm25(folder)
    mlon, mlat, u, v = load_met(series.times, folder)
    wind = interpolate_met(mlon, mlat, u, v, series.lon, series.lat)
    wind.source = "the 12 UCI stations (wd, WSPM), inverse-distance weighted per hour"
    return series, wind


def hidden_stations(n: int, share: float, seed: int = HIDDEN_SEED) -> np.ndarray:
    """Boolean mask of the hidden stations; nested in ``share`` for one seed."""
    order = np.random.default_rng(seed).permutation(n)
    hidden = np.zeros(n, bool)
    hidden[order[:int(round(share * n))]] = True
    return hidden


def split(series: StationSeries, wind: Wind):
    """(train window, test window) index slices of the times."""
    cut = int(np.searchsorted(series.times, TEST_START))
    return slice(0, cut), slice(cut, series.times.size)
