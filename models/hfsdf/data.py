"""Training maps for the coded (auto-decoder) HF-SDF network.

Two families, so the latent space sees varied shapes:
- simulator maps: hourly PM2.5 from ``core.simulate`` scenarios. Each seed is a different
  region (terrain, cities, roads, point sources); the presets vary the meteorology and
  chemistry the way seasons do (boundary layer, wind, stagnation, secondary formation), so
  one region gives maps of different character. The paper's setting is "train on maps of a
  region, reconstruct other times of it": days [0, train_days) train, later days are held out.
- smooth random maps: Gaussian random fields of several length scales plus plumes, a generic
  prior for fields unlike the simulator's (satellite columns, reanalyses).
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Dict, List, Optional, Tuple

import numpy as np

SEASONS: Dict[str, dict] = {
    "winter": dict(start="2017-01-10T00:00:00", blh_day=700.0, blh_night=140.0, mean_wind=2.4,
                   background_stagnant=60.0, secondary_rate=0.008),
    "summer": dict(start="2017-07-10T00:00:00", blh_day=1900.0, blh_night=300.0, mean_wind=4.0,
                   background_clean=6.0, secondary_rate=0.02),
    "spring": dict(start="2017-04-10T00:00:00"),
}


@dataclass
class MapSet:
    maps: List[np.ndarray]        # (H, W) float32 each
    labels: List[str]             # where each map came from


def scenario(seed: int, season: str, size: int, days: int, pixel_size: float = 5000.0):
    from ...core.simulate import SimConfig, run_scenario

    config = SimConfig(days=days).with_(**SEASONS[season])
    return run_scenario(size=size, pixel_size=pixel_size, days=days, seed=seed, config=config)


def regions(seeds) -> List[Tuple[int, str]]:
    """(seed, season) of each simulated region: the season cycles with the seed's position."""
    names = list(SEASONS)
    return [(int(seed), names[i % len(names)]) for i, seed in enumerate(seeds)]


def hourly_pm25(seed: int, season: str, size: int, days: int, cache_dir: Optional[str] = None) -> np.ndarray:
    """A region's hourly PM2.5 (T, H, W); with ``cache_dir`` kept there as .npy after the first run
    (so a pool of workers can simulate the regions before training reads them)."""
    if not cache_dir:
        return scenario(seed, season, size, days).pm25_hourly
    path = os.path.join(cache_dir, f"hfsdf_pm25_{seed}_{season}_{size}px_{days}d.npy")
    if os.path.exists(path):
        try:
            return np.load(path)
        except (OSError, ValueError):
            pass  # rebuilt below
    data = np.asarray(scenario(seed, season, size, days).pm25_hourly, dtype=np.float32)
    os.makedirs(cache_dir, exist_ok=True)
    tmp = f"{path}.{os.getpid()}.part"
    with open(tmp, "wb") as fh:
        np.save(fh, data)
    os.replace(tmp, path)
    return data


def simulator_maps(seeds, size: int = 240, days: int = 4, train_days: int = 3,
                   hour_step: int = 3, cache_dir: Optional[str] = None) -> Tuple[MapSet, MapSet]:
    """(train, held-out) hourly PM2.5 maps; the season cycles with the seed."""
    train, test = MapSet([], []), MapSet([], [])
    for seed, season in regions(seeds):
        hourly = hourly_pm25(seed, season, size, days, cache_dir)
        for t in range(0, hourly.shape[0], hour_step):
            target = train if t < 24 * train_days else test
            target.maps.append(hourly[t].astype(np.float32))
            target.labels.append(f"sim seed {seed} {season} hour {t}")
    return train, test


def random_smooth_maps(count: int, size: int, seed: int) -> MapSet:
    """Positive smooth fields: a Gaussian random field (length 1/20 to 1/3 of the domain)
    plus a few Gaussian plumes, exponentiated like a log-normal concentration."""
    from scipy.ndimage import gaussian_filter

    rng = np.random.default_rng(seed)
    out = MapSet([], [])
    yy, xx = np.mgrid[0:size, 0:size] / size
    for k in range(count):
        length = size * rng.uniform(0.05, 0.33)
        field = gaussian_filter(rng.standard_normal((size, size)), length, mode="wrap")
        field /= field.std() + 1e-12
        for _ in range(rng.integers(0, 5)):
            cx, cy = rng.uniform(0, 1, 2)
            sx, sy = rng.uniform(0.02, 0.15, 2)
            field += rng.uniform(0.5, 3.0) * np.exp(-((xx - cx) ** 2 / (2 * sx ** 2) + (yy - cy) ** 2 / (2 * sy ** 2)))
        field += rng.uniform(-1, 1) * (xx - 0.5) + rng.uniform(-1, 1) * (yy - 0.5)
        out.maps.append(np.exp(rng.uniform(0.3, 1.0) * field).astype(np.float32))
        out.labels.append(f"random smooth {k}")
    return out


def block_mean(data: np.ndarray, factor: int) -> np.ndarray:
    """Coarsen (H, W) by averaging factor x factor blocks (edges trimmed), NaN-aware."""
    h, w = (data.shape[0] // factor) * factor, (data.shape[1] // factor) * factor
    blocks = data[:h, :w].reshape(h // factor, factor, w // factor, factor)
    with np.errstate(invalid="ignore"):
        return np.nanmean(blocks, axis=(1, 3))
