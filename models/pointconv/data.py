"""Training samples for PointConv-UNet++: simulated daily fields + random pseudo-stations.

A *day* is a set of full fields on one grid: PM2.5 (the target), relative humidity and wind
speed (daily means, sampled by a separate meteorological network), DEM and urban fraction.
A *sample* draws pseudo-stations on a day, grids them, and normalises with
``core.pointconv.assemble_channels`` — the very function inference uses.

Sources of days:
- ``simulator_days``: the project's simulator (core.training_data.scenarios), the shipped data;
- ``smooth_random_days``: quick smooth random fields for development and tests.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Iterator, List, Optional, Tuple

import numpy as np
from scipy import ndimage

from ...core import pointconv as pc

# Cell size of the training fields: 10 km, about the paper's 0.1 deg and the real CNEMC grid.
CELL_M = 10_000.0
# Pseudo-station density, as a count on the paper's 372 x 426 grid (scaled to any domain by
# cell count). The paper trains with 1,500-2,500 per day; a share of samples goes down to
# 600 so the model also meets the sparser real networks (its test uses ~800).
PAPER_CELLS = 372 * 426
PAPER_RANGE = (1500, 2500)
SPARSE_RANGE = (600, 1500)
SPARSE_SHARE = 0.3
CLUSTERED_SHARE = 0.5   # share of samples whose sites follow urban fraction (real networks do)
COVARIATE_KEEP = 0.7    # each covariate is present in this share of samples
# Station error relative to the cell mean (measurement + sub-cell representativeness): a level
# drawn per sample up to this, multiplicative Gaussian. Real CNEMC stations sharing a 0.1 deg
# cell differ by 12 % (median relative std); exact values teach the model to copy a station,
# noisy ones to weigh it against its neighbours, as kriging's nugget does.
STATION_NOISE_MAX = 0.2


@dataclass
class Day:
    pm25: np.ndarray                    # (H, W) µg/m³ daily mean, the target (NaN = no data)
    rh: Optional[np.ndarray]            # (H, W) % daily mean (None: not available)
    wind_speed: Optional[np.ndarray]    # (H, W) m/s daily mean
    dem: Optional[np.ndarray]           # (H, W) m
    urban: Optional[np.ndarray]         # (H, W) [0, 1]


def simulator_days(count: int, size: int, seed: int, cache_dir: Optional[str] = None,
                   days_per_scenario: int = 2, pixel_size: float = CELL_M) -> List[Day]:
    """Daily means from the project simulator; each scenario gives ``days_per_scenario`` days.

    With ``cache_dir`` the scenarios are cached by core.training_data and the daily means once
    more in one small file (reading hundreds of hourly scenarios takes minutes)."""
    if not cache_dir:
        return _simulate_days(count, size, seed, None, days_per_scenario, pixel_size)
    path = os.path.join(cache_dir, f"pointconv_days_{count}x{days_per_scenario}_{size}px_{int(pixel_size)}m_s{seed}.npz")
    names = list(Day.__dataclass_fields__)
    if os.path.exists(path):
        try:
            with np.load(path) as z:
                arrays = {k: z[k] for k in names}  # each z[k] reads the file: once per array
            return [Day(*(arrays[k][i] for k in names)) for i in range(arrays["pm25"].shape[0])]
        except (OSError, ValueError, KeyError):
            pass  # rebuilt below
    days = _simulate_days(count, size, seed, cache_dir, days_per_scenario, pixel_size)
    tmp = f"{path}.{os.getpid()}.part"
    with open(tmp, "wb") as fh:
        np.savez(fh, **{k: np.stack([getattr(d, k) for d in days]) for k in names})
    os.replace(tmp, path)
    return days


def _simulate_days(count, size, seed, cache_dir, days_per_scenario, pixel_size) -> List[Day]:
    from ...core.training_data import scenarios

    out: List[Day] = []
    n_scen = -(-count // days_per_scenario)
    for sc in scenarios(n_scen, size=size, days=days_per_scenario, seed=seed, cache_dir=cache_dir,
                        pixel_size=pixel_size):
        hours = sc.rh_hourly.shape[0] // sc.pm25_daily.shape[0]
        for d in range(sc.pm25_daily.shape[0]):
            sl = slice(d * hours, (d + 1) * hours)
            out.append(Day(sc.pm25_daily[d].astype(np.float32), sc.rh_hourly[sl].mean(0).astype(np.float32),
                           sc.wind_speed_hourly[sl].mean(0).astype(np.float32),
                           sc.dem.astype(np.float32), sc.urban.astype(np.float32)))
            if len(out) == count:
                return out
    return out


def raster_days(pm25: str, rh: Optional[str] = None, wind_speed: Optional[str] = None,
                dem: Optional[str] = None, urban: Optional[str] = None, variable: Optional[str] = None) -> List[Day]:
    """Days from the user's own gridded fields, for fine-tuning to a region: ``pm25`` is a
    raster whose bands are daily means (a reanalysis or transport-model run, e.g. a NetCDF
    variable given as ``variable``); ``rh`` and ``wind_speed`` have the same bands; ``dem`` and
    ``urban`` are single rasters resampled onto the PM2.5 grid. Keep the cell size the one you
    will map at."""
    from ...core.raster_io import read_raster

    target = read_raster(pm25, variable)
    grid, n = target.grid, target.data.shape[0]

    def stack(path, name):
        if not path:
            return [None] * n
        r = read_raster(path)
        if r.data.shape[0] != n:
            raise ValueError(f"{name} has {r.data.shape[0]} bands, the PM2.5 raster {n}: give one band per day")
        return [pc.resample_to_grid(b, r.grid, grid) for b in r.data]

    def single(path):
        return pc.resample_to_grid(read_raster(path).data[0], read_raster(path).grid, grid) if path else None

    rhs, wss = stack(rh, "rh"), stack(wind_speed, "wind_speed")
    d, u = single(dem), single(urban)
    return [Day(target.data[i], rhs[i], wss[i], d, u) for i in range(n)]


def _smooth_noise(shape, sigma, rng):
    f = ndimage.gaussian_filter(rng.standard_normal(shape), sigma, mode="reflect")
    return (f - f.mean()) / (f.std() + 1e-9)


def smooth_random_days(count: int, size: int = 96, seed: int = 0) -> List[Day]:
    """Development fields: cities on smooth terrain, PM2.5 = regional background + city plumes,
    higher in valleys, with humid and calm air; RH and wind speed are smooth and correlated."""
    rng = np.random.default_rng(seed)
    shape = (size, size)
    days = []
    for _ in range(count):
        dem = np.clip(800 + 600 * _smooth_noise(shape, size / 6, rng), 0, None)
        urban = np.zeros(shape)
        for _ in range(rng.integers(3, 9)):
            r, c = rng.integers(0, size, 2)
            urban[r, c] += rng.uniform(0.5, 1.0)
        urban = np.clip(ndimage.gaussian_filter(urban, 2.0) * 20, 0, 1)
        ws = np.clip(3 + 1.5 * _smooth_noise(shape, size / 5, rng), 0.3, None)
        rh = np.clip(60 + 15 * _smooth_noise(shape, size / 5, rng), 10, 100)
        emission = ndimage.gaussian_filter(urban, rng.uniform(3, 8))
        background = 30 * np.exp(0.4 * _smooth_noise(shape, size / 4, rng))
        pm25 = (background + 400 * emission / ws) * (1 + 0.01 * (rh - 60)) * np.exp(-dem / 3000)
        days.append(Day(*(a.astype(np.float32) for a in (pm25, rh, ws, dem, urban))))
    return days


def station_count(shape, rng: np.random.Generator) -> int:
    lo, hi = SPARSE_RANGE if rng.random() < SPARSE_SHARE else PAPER_RANGE
    cells = shape[0] * shape[1]
    return max(3, int(round(rng.uniform(lo, hi) * cells / PAPER_CELLS)))


def pick_sites(n: int, urban: Optional[np.ndarray], rng: np.random.Generator, clustered: bool,
               valid: np.ndarray) -> np.ndarray:
    """Flat cell indices of ``n`` distinct sites with data: uniform (the paper), or weighted to
    urban land. ``urban`` may be None (uniform); ``valid`` marks cells with a target value."""
    p = np.ones(valid.size) if (urban is None or not clustered) else np.nan_to_num(urban.ravel()) + 0.05
    p = p * valid.ravel()
    n = min(n, int(valid.sum()))
    return rng.choice(valid.size, size=n, replace=False, p=p / p.sum())


def sparse_grid(field: np.ndarray, sites: np.ndarray, noise: float = 0.0,
                rng: Optional[np.random.Generator] = None) -> Tuple[np.ndarray, np.ndarray]:
    value = np.zeros(field.shape, np.float32)
    mask = np.zeros(field.shape, np.float32)
    values = field.flat[sites]
    if noise > 0:
        values = np.maximum(values * (1 + noise * rng.standard_normal(values.shape)), 0)
    value.flat[sites] = values
    mask.flat[sites] = 1.0
    return value, mask


def make_sample(day: Day, variant: str, rng: np.random.Generator, n: Optional[int] = None,
                covariate_keep: float = COVARIATE_KEEP, augment: bool = True,
                noise_max: float = 0.0) -> Tuple[np.ndarray, np.ndarray]:
    """(x (C, H, W), target (1, H, W)) in normalised units, with a random D4 transform."""
    x, y, _ = sample_inputs(day, variant, rng, n, covariate_keep, noise=rng.uniform(0, noise_max) if noise_max else 0.0)
    if augment:
        k, flip = int(rng.integers(4)), bool(rng.integers(2))
        x, y = _d4(x, k, flip), _d4(y, k, flip)
    return x, y


def sample_inputs(day: Day, variant: str, rng: np.random.Generator, n: Optional[int] = None,
                  covariate_keep: float = COVARIATE_KEEP, noise: float = 0.0) -> Tuple[np.ndarray, np.ndarray, float]:
    """Pseudo-stations on ``day`` -> (x, normalised target, PM2.5 scale in µg/m³); station
    values carry a multiplicative error of relative std ``noise``, the target stays exact."""
    shape = day.pm25.shape
    n = station_count(shape, rng) if n is None else n
    clustered = rng.random() < CLUSTERED_SHARE
    valid = np.isfinite(day.pm25)
    sparse = {"pm25": sparse_grid(day.pm25, pick_sites(n, day.urban, rng, clustered, valid), noise, rng)}
    if variant == "met":
        if day.rh is None or day.wind_speed is None:
            raise ValueError("the met variant needs RH and wind-speed fields for every day")
        n_met = max(3, int(round(n * rng.uniform(0.5, 1.5))))
        met_valid = np.isfinite(day.rh) & np.isfinite(day.wind_speed)
        met_sites = pick_sites(n_met, day.urban, rng, rng.random() < CLUSTERED_SHARE, met_valid)
        sparse["rh"] = sparse_grid(day.rh, met_sites, noise, rng)
        sparse["wind_speed"] = sparse_grid(day.wind_speed, met_sites, noise, rng)
    cov = {"dem": day.dem if rng.random() < covariate_keep else None,
           "urban": day.urban if rng.random() < covariate_keep else None}
    scale = pc.pm25_scale(sparse["pm25"][0][sparse["pm25"][1] > 0])
    x = pc.assemble_channels(variant, sparse, cov, scale)
    y = (day.pm25 / scale)[None].astype(np.float32)
    return x, y, scale


def _d4(a: np.ndarray, k: int, flip: bool) -> np.ndarray:
    a = np.rot90(a, k, axes=(1, 2))
    if flip:
        a = a[:, :, ::-1]
    return np.ascontiguousarray(a)


def crop(day: Day, size: int, rng: np.random.Generator) -> Day:
    """A random ``size`` x ``size`` window of a day (cheaper steps, more variety per day)."""
    h, w = day.pm25.shape
    if size >= min(h, w):
        return day
    r, c = int(rng.integers(0, h - size + 1)), int(rng.integers(0, w - size + 1))
    return Day(*(None if getattr(day, k) is None else getattr(day, k)[r:r + size, c:c + size]
                 for k in Day.__dataclass_fields__))


def batches(days: List[Day], variant: str, batch: int, rng: np.random.Generator,
            crop_size: Optional[int] = None, noise_max: float = 0.0) -> Iterator[Tuple[np.ndarray, np.ndarray]]:
    """Endless batches, each sample a random day (or window of one) with fresh pseudo-stations;
    the station count follows the window's cell count."""
    while True:
        picks = rng.integers(0, len(days), batch)
        xs, ys = zip(*(make_sample(crop(days[i], crop_size, rng) if crop_size else days[i], variant, rng,
                                   noise_max=noise_max) for i in picks))
        yield np.stack(xs), np.stack(ys)
