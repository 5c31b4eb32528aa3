"""Training data shared by every model's training script: simulated scenarios, fresh or cached,
and ready-made samples of (fine field, coarse field, station sample, covariates).

Why here and not in models/: the data contract is the same for all models and must not import
torch; each ``models/<name>/train.py`` turns these numpy arrays into tensors itself.

    from airmap.core.training_data import scenarios, samples, batches
    for sc in scenarios(8, size=96, days=2, seed=0, cache_dir="/tmp/airmap_sim"):
        ...                                    # a core.simulate.Scenario
    for b in batches(16, count=8, seed=0):     # numpy arrays, shapes in Batch's docstring
        ...
"""
from __future__ import annotations

import hashlib
import json
import os
from dataclasses import asdict, dataclass
from typing import Dict, Iterable, Iterator, List, Optional

import numpy as np
from affine import Affine

from .errors import AirmapInputError
from .grid import Grid
from .simulate import Scenario, SimConfig, run_scenario

COVARIATES = ("dem", "urban", "rh", "wind_speed", "u", "v")
CACHE_VERSION = 1


def scenario_seed(seed: int, index: int) -> int:
    """Seed of the index-th scenario of a stream: independent streams, stable across runs."""
    return int(np.random.SeedSequence([int(seed), int(index)]).generate_state(1)[0])


def varied_config(days: int, seed: int, base: Optional[SimConfig] = None) -> SimConfig:
    """Jitter the settings that vary most between regions and seasons, so that a model trained
    on many scenarios does not learn one fixed emission level or wind climate."""
    base = (base or SimConfig()).with_(days=days)
    rng = np.random.default_rng([int(seed), 99])
    return base.with_(
        urban_emission=base.urban_emission * float(rng.uniform(0.5, 1.8)),
        precursor_ratio=base.precursor_ratio * float(rng.uniform(0.6, 1.6)),
        mean_wind=base.mean_wind * float(rng.uniform(0.7, 1.5)),
        synoptic_days=base.synoptic_days * float(rng.uniform(0.7, 1.4)),
        secondary_rate=base.secondary_rate * float(rng.uniform(0.6, 1.6)),
        background_stagnant=base.background_stagnant * float(rng.uniform(0.6, 1.5)),
        rain_events_per_day=base.rain_events_per_day * float(rng.uniform(0.3, 2.0)),
    )


def scenarios(count: int, *, size: int = 96, days: int = 2, seed: int = 0,
              cache_dir: Optional[str] = None, pixel_size: float = 5000.0, vary: bool = True,
              config: Optional[SimConfig] = None, only: Optional[Iterable[int]] = None) -> Iterator[Scenario]:
    """Yield ``count`` scenarios; the i-th depends only on (seed, i, size, days, pixel_size,
    vary, config). With ``cache_dir`` each is stored as a compressed .npz on first use and read
    back afterwards (the file name holds a hash of all those inputs). ``only``: yield just these
    indices of the stream (so parallel workers can fill one cache)."""
    if int(count) < 0:
        raise AirmapInputError(f"count must be >= 0, got {count}.")
    for i in (range(int(count)) if only is None else [int(k) for k in only if 0 <= int(k) < int(count)]):
        s = scenario_seed(seed, i)
        cfg = varied_config(days, s, config) if vary else (config or SimConfig()).with_(days=days)
        if cache_dir is None:
            yield run_scenario(size, pixel_size, days, s, config=cfg)
            continue
        key = _cache_key(size, pixel_size, s, cfg)
        path = os.path.join(cache_dir, f"scenario_{size}px_{days}d_{key}.npz")
        if os.path.exists(path):
            try:
                yield load_scenario(path)
                continue
            except (OSError, ValueError, KeyError):
                pass  # a corrupt or outdated cache file is simply rebuilt
        sc = run_scenario(size, pixel_size, days, s, config=cfg)
        save_scenario(sc, path)
        yield sc


# --- samples and batches ---------------------------------------------------------------------
@dataclass
class Sample:
    """One day of one scenario.

    fine: (H, W) daily-mean PM2.5 (the truth); coarse: (H//factor, W//factor) block means of it;
    stations: core.stations.Stations (daily means at urban-clustered sites, with noise);
    covariates: (C, H, W) in the order of ``covariate_names`` (daily means for weather);
    grid: the fine grid.
    """
    fine: np.ndarray
    coarse: np.ndarray
    stations: object
    covariates: np.ndarray
    covariate_names: tuple
    grid: Grid
    scenario_seed: int
    day: int


@dataclass
class Batch:
    """``samples`` stacked: fine (B, H, W), coarse (B, h, w), covariates (B, C, H, W) float32;
    stations: list of B Stations (their counts may differ)."""
    fine: np.ndarray
    coarse: np.ndarray
    covariates: np.ndarray
    covariate_names: tuple
    stations: list
    samples: List[Sample]


def samples(count: int, *, size: int = 96, days: int = 2, seed: int = 0,
            cache_dir: Optional[str] = None, factor: int = 3, n_stations: int = 60,
            noise: float = 0.05, pixel_size: float = 5000.0, vary: bool = True) -> Iterator[Sample]:
    """Every day of ``count`` scenarios as a ``Sample``; stations are a fixed network per
    scenario (as in reality), resampled with fresh noise each day."""
    if size % factor:
        raise AirmapInputError(f"size {size} must be a multiple of factor {factor}.")
    for sc in scenarios(count, size=size, days=days, seed=seed, cache_dir=cache_dir,
                        pixel_size=pixel_size, vary=vary):
        rng = np.random.default_rng([sc.seed, 7])
        sites = sc.station_sites(n_stations, rng)
        daily = {name: sc.daily(name + "_hourly") for name in ("rh", "wind_speed", "u", "v")}
        for d in range(sc.n_days):
            fine = sc.pm25_daily[d]
            h, w = fine.shape
            coarse = fine.reshape(h // factor, factor, w // factor, factor).mean(axis=(1, 3))
            cov = np.stack([sc.dem, sc.urban] + [daily[n][d] for n in COVARIATES[2:]]).astype(np.float32)
            yield Sample(fine=fine, coarse=coarse.astype(np.float32),
                         stations=sc.sample_stations(n_stations, d, rng, noise, sites=sites),
                         covariates=cov, covariate_names=COVARIATES, grid=sc.grid,
                         scenario_seed=sc.seed, day=d)


def batches(batch_size: int, count: int, **kwargs) -> Iterator[Batch]:
    """Group ``samples(count, **kwargs)`` into batches of ``batch_size`` (the last may be
    smaller)."""
    if int(batch_size) < 1:
        raise AirmapInputError(f"batch_size must be >= 1, got {batch_size}.")
    group: List[Sample] = []
    for s in samples(count, **kwargs):
        group.append(s)
        if len(group) == batch_size:
            yield _stack(group)
            group = []
    if group:
        yield _stack(group)


def _stack(group: List[Sample]) -> Batch:
    return Batch(fine=np.stack([s.fine for s in group]), coarse=np.stack([s.coarse for s in group]),
                 covariates=np.stack([s.covariates for s in group]),
                 covariate_names=group[0].covariate_names,
                 stations=[s.stations for s in group], samples=group)


# --- cache -------------------------------------------------------------------------------------
_ARRAYS = ("pm25_hourly", "rh_hourly", "wind_speed_hourly", "u_hourly", "v_hourly", "dem",
           "urban", "blh_hourly", "rain_daily", "emission")


def _cache_key(size, pixel_size, seed, cfg: SimConfig) -> str:
    text = json.dumps({"v": CACHE_VERSION, "size": size, "pixel": pixel_size, "seed": seed,
                       "cfg": asdict(cfg)}, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def save_scenario(sc: Scenario, path: str) -> None:
    """Atomic write (temp file + rename), so parallel trainers never read half a file."""
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    meta = {"transform": list(sc.grid.transform)[:6], "width": sc.grid.width,
            "height": sc.grid.height, "crs": sc.grid.crs, "times": sc.times, "seed": sc.seed,
            "budget": sc.budget, "config": asdict(sc.config) if sc.config is not None else None,
            "version": CACHE_VERSION}
    tmp = f"{path}.{os.getpid()}.part"
    with open(tmp, "wb") as fh:
        np.savez_compressed(fh, meta=np.array(json.dumps(meta)),
                            **{name: getattr(sc, name) for name in _ARRAYS})
    os.replace(tmp, path)


def load_scenario(path: str) -> Scenario:
    with np.load(path, allow_pickle=False) as z:
        meta = json.loads(str(z["meta"]))
        if meta.get("version") != CACHE_VERSION:
            raise ValueError("outdated cache file")
        arrays: Dict[str, np.ndarray] = {name: z[name] for name in _ARRAYS}
    grid = Grid(Affine(*meta["transform"]), meta["width"], meta["height"], meta["crs"])
    cfg = SimConfig(**meta["config"]) if meta.get("config") else None
    return Scenario(grid=grid, times=meta["times"], seed=meta["seed"], budget=meta["budget"],
                    config=cfg, **arrays)
