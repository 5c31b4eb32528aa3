"""Running SPIN and IGNNK (ONNX) over long series: windows in time, batches of targets.

Memory holds one window of (stations + one batch of targets) x hours and its (hours, nodes,
nodes) supports, whatever the length of the series or the number of targets. Because only
observed nodes send messages (see ``graphs``), target batches do not influence each other.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Iterator, List, Optional, Tuple

import numpy as np

from ..progress import Progress, ensure
from . import graphs
from .normalise import window_divisor

MODELS_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.realpath(__file__)))), "models")
TARGET_BATCH = 64   # targets per graph beside the stations


def shipped_model(task: str, name: Optional[str] = None) -> str:
    return os.path.join(MODELS_DIR, task, name or f"{task}.onnx")


def time_windows(total: int, length: int, keep: int) -> List[Tuple[int, int, int, int]]:
    """(window start, window stop, kept start, kept stop): windows of ``length`` steps whose
    centre ``keep`` steps are kept, so every kept hour has context on both sides (less at the
    ends of the series)."""
    margin = (length - keep) // 2
    out, start = [], 0
    while start < total:
        stop = min(start + keep, total)
        w0 = max(0, start - margin)
        w1 = min(total, w0 + length)
        w0 = max(0, w1 - length)
        out.append((w0, w1, start, stop))
        start = stop
    return out


@dataclass
class SeriesModel:
    """A loaded SPIN or IGNNK model and how its card says to feed it."""

    task: str
    onnx: object
    card: dict
    advection: bool = True  # SPIN only: False = diffusion kernel only (also when the card says so)

    def __post_init__(self):
        # a SPIN trained with the diffusion kernel only never learnt the advection weights: feed it zeros
        self.advection = self.advection and bool(self.card.get("graph", {}).get("advection", True))

    @property
    def window(self) -> Tuple[int, int]:
        w = self.card["window"]
        return int(w["length"]), int(w["keep"])

    def predict(self, lon, lat, values: np.ndarray, u: np.ndarray, v: np.ndarray,
                stations: Optional[np.ndarray] = None) -> np.ndarray:
        """(N, t) estimates for one window; ``values`` NaN where unknown. ``stations`` marks the
        nodes that are stations (IGNNK's kernel width comes from the distances between them)."""
        observed = np.isfinite(values)
        scale = window_divisor(self.card["normalisation"], values)
        z = np.where(observed, values / scale, 0.0).astype(np.float32)
        if self.task == "spin":
            cfg = self.card["graph"]
            a_diff, a_adv = graphs.spin_supports(lon, lat, observed, u, v, cfg["sigma_km"], cfg["cutoff_km"],
                                                 self.advection)
            wind = np.stack([u, v], -1).astype(np.float32)
            out = self.onnx.run({"value": z[None], "observed": observed[None].astype(np.float32),
                                 "wind": wind[None], "a_diff": a_diff[None], "a_adv": a_adv[None]})[0][0]
        else:
            length = self.window[0]
            t = values.shape[1]
            if t < length:  # a short series: pad with unknown hours
                z = np.pad(z, ((0, 0), (0, length - t)))
            stations = observed.any(axis=1) if stations is None else stations
            sigma = graphs.ignnk_sigma(lon, lat, stations) * float(self.card["graph"]["sigma_scale"])
            a = graphs.ignnk_support(lon, lat, observed.any(axis=1), sigma)
            out = self.onnx.run({"x": z[None], "a": a[None]})[0][0][:, :t]
        return out * scale


def load_series_model(task: str, path: Optional[str] = None, device: str = "auto",
                      advection: bool = True) -> SeriesModel:
    from ..onnx_runtime import load_model

    if task not in ("spin", "ignnk"):
        raise ValueError(task)
    model = load_model(path or shipped_model(task), task=task, device=device)
    return SeriesModel(task, model, model.card, advection)


def infer_at_targets(model: SeriesModel, lon, lat, values: np.ndarray, u: np.ndarray, v: np.ndarray,
                     target_lon, target_lat, target_u: np.ndarray, target_v: np.ndarray,
                     progress: Optional[Progress] = None) -> Iterator[Tuple[slice, np.ndarray]]:
    """Yield (time slice, (targets, hours) estimates) window by window.

    ``values`` (S, T) station series with NaN gaps; ``u, v`` (S, T) station wind (0 where unknown);
    target_u/v (M, T) the wind at the targets."""
    progress = ensure(progress)
    length, keep = model.window
    total = values.shape[1]
    windows = time_windows(total, length, keep)
    m = len(target_lon)
    batches = [slice(i, min(i + TARGET_BATCH, m)) for i in range(0, m, TARGET_BATCH)]
    is_station = np.r_[np.ones(len(lon), bool), np.zeros(TARGET_BATCH, bool)]
    for k, (w0, w1, k0, k1) in enumerate(windows):
        out = np.empty((m, k1 - k0), dtype=np.float32)
        for sl in batches:
            count = sl.stop - sl.start
            node_lon = np.r_[lon, target_lon[sl]]
            node_lat = np.r_[lat, target_lat[sl]]
            node_values = np.vstack([values[:, w0:w1], np.full((count, w1 - w0), np.nan, np.float32)])
            node_u = np.vstack([u[:, w0:w1], target_u[sl, w0:w1]])
            node_v = np.vstack([v[:, w0:w1], target_v[sl, w0:w1]])
            est = model.predict(node_lon, node_lat, node_values, node_u, node_v, is_station[:len(node_lon)])
            out[sl] = est[len(lon):, k0 - w0:k1 - w0]
            progress.check()
        progress.set((k + 1) / len(windows))
        yield slice(k0, k1), out
