"""DeepCAMS (seed 002): ×3 in time with XVFI, then ×3 in space with ABPN (the order the paper
found best), plus the training/benchmark pairs both networks are built from (QGIS-free).

* ``deepcams``: (T, H, W) coarse stack -> (3(T−1)+1, 3H, 3W).
* ``output_band_names``: band names with the inserted times computed.
* ``block_mean`` / ``hourly_stacks`` / ``sr_pairs`` / ``vfi_triplets``: how fine hourly
  simulator fields become (coarse, fine) and (frame t, frame t+gap, frames between) samples —
  one definition shared by the training scripts and the benchmark.
"""
from __future__ import annotations

import os
import tempfile
from typing import Iterator, List, Optional, Sequence, Tuple

import numpy as np

from .band_source import ReaderBands
from .frame_interp import interpolate_frames
from .onnx_runtime import OnnxModel
from .progress import Progress, ensure
from .superres import SCALE, super_resolve
from .timestamps import refine_times

FACTOR_TIME = 3


def deepcams(data, xvfi: OnnxModel, abpn: OnnxModel, progress: Optional[Progress] = None,
             tile_space: Optional[int] = None, tile_time: Optional[int] = None,
             conserve: bool = True, sink=None, scratch: Optional[str] = None) -> Optional[np.ndarray]:
    """(T, H, W) with NaN no-data -> (3(T−1)+1, 3H, 3W): XVFI first, then ABPN per frame.

    ``sink``: as ``super_resolve``'s (band, first row, rows): the 27-times-larger output goes
    there tile row by tile row. ``data``: an array (the XVFI frames are held in memory) or a
    ``core.band_source.ReaderBands`` (an open raster): then the XVFI frames go to a temporary
    GeoTIFF in ``scratch`` (default: the system's temporary folder), which ABPN reads by window,
    so memory stays flat in the raster size."""
    progress = ensure(progress)
    if not isinstance(data, ReaderBands):
        frames = interpolate_frames(data, xvfi, FACTOR_TIME, tile=tile_time, progress=progress.sub(0.0, 0.3))
        return super_resolve(frames, abpn, tile=tile_space, conserve=conserve, progress=progress.sub(0.3, 1.0),
                             sink=sink)
    from .raster_io import RasterReader, RasterWriter

    grid = data.reader.grid
    with tempfile.TemporaryDirectory(prefix="airmap-deepcams-", dir=scratch) as folder:
        path = os.path.join(folder, "xvfi.tif")
        with RasterWriter(path, grid, FACTOR_TIME * (data.count - 1) + 1) as writer:
            interpolate_frames(data, xvfi, FACTOR_TIME, tile=tile_time, progress=progress.sub(0.0, 0.3),
                               sink=writer.write)
        with RasterReader(path) as frames:
            return super_resolve(ReaderBands(frames, data.strip_rows, data.halo), abpn, tile=tile_space,
                                 conserve=conserve, progress=progress.sub(0.3, 1.0), sink=sink)


def output_band_names(names: Sequence[str], factor: int = FACTOR_TIME) -> List[str]:
    return refine_times(list(names), factor)


# --- training and benchmark samples ------------------------------------------------------------

def block_mean(fields: np.ndarray, factor: int = SCALE) -> np.ndarray:
    """(..., H, W) -> (..., H//f, W//f) means of f×f blocks (partial edge blocks dropped);
    a block with any no-data cell is no-data."""
    arr = np.asarray(fields, dtype=np.float64)
    h, w = (arr.shape[-2] // factor) * factor, (arr.shape[-1] // factor) * factor
    arr = arr[..., :h, :w]
    shape = arr.shape[:-2] + (h // factor, factor, w // factor, factor)
    return arr.reshape(shape).mean(axis=(-3, -1)).astype(np.float32)


def sr_pairs(hourly: np.ndarray, factor: int = SCALE) -> Tuple[np.ndarray, np.ndarray]:
    """Fine (T, H, W) -> (coarse (T, H/f, W/f) block means, fine cropped to f·coarse)."""
    coarse = block_mean(hourly, factor)
    fine = np.asarray(hourly, dtype=np.float32)[..., :coarse.shape[-2] * factor, :coarse.shape[-1] * factor]
    return coarse, fine


def vfi_triplets(hourly: np.ndarray, gap: int = FACTOR_TIME) -> List[Tuple[int, int, List[int]]]:
    """(first, last, between) frame indices of every window ``gap`` hours wide: frames t and
    t+gap in, frames t+1 … t+gap−1 (at times k/gap) to predict."""
    steps = np.asarray(hourly).shape[0]
    return [(i, i + gap, list(range(i + 1, i + gap))) for i in range(0, steps - gap)]


def _synthetic_hourly(rng: np.random.Generator, hours: int, size: int) -> np.ndarray:
    """Stand-in fields used only while core.training_data is unavailable: a log-normal smooth
    background and city plumes advected by a slowly turning wind, with a diurnal cycle."""
    from scipy import ndimage

    pad = size // 2
    big = size + 2 * pad
    yy, xx = np.mgrid[0:big, 0:big].astype(np.float64)
    noise = ndimage.gaussian_filter(rng.standard_normal((big, big)), rng.uniform(4, 12), mode="wrap")
    background = np.exp(1.2 * noise / (noise.std() + 1e-12)) * rng.uniform(5, 30)
    plumes = np.zeros((big, big))
    for _ in range(rng.integers(2, 8)):
        cy, cx = rng.uniform(0, big, 2)
        plumes += rng.uniform(20, 200) * np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * rng.uniform(1, 5) ** 2))
    speed, angle = rng.uniform(0.2, 1.5), rng.uniform(0, 2 * np.pi)
    turn = rng.uniform(-0.03, 0.03)
    out = np.empty((hours, size, size), dtype=np.float32)
    oy = ox = 0.0
    for k in range(hours):
        a = angle + turn * k
        oy, ox = oy + speed * np.sin(a), ox + speed * np.cos(a)
        moved = ndimage.shift(background + plumes, (oy, ox), order=1, mode="wrap")
        cycle = 1.0 + 0.3 * np.sin(2 * np.pi * k / 24.0)
        out[k] = (moved[pad:pad + size, pad:pad + size] * cycle).astype(np.float32)
    return out


def hourly_stacks(count: int, *, size: int = 96, days: int = 2, seed: int = 0,
                  cache_dir: Optional[str] = None) -> Iterator[Tuple[np.ndarray, str]]:
    """``count`` fine hourly PM2.5 stacks (T, H, W) in µg/m³ and where they came from:
    the project simulator (core.training_data.scenarios) when present, else stand-ins."""
    try:
        from .training_data import scenarios
    except ImportError:
        scenarios = None
    if scenarios is not None:
        for sc in scenarios(count, size=size, days=days, seed=seed, cache_dir=cache_dir):
            yield np.asarray(sc.pm25_hourly, dtype=np.float32), "simulator"
        return
    rng = np.random.default_rng(seed)
    for _ in range(count):
        yield _synthetic_hourly(rng, 24 * days, size), "synthetic"
