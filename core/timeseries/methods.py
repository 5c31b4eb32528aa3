"""Methods that infer a series at places without a station from the station series around
them: SPIN (with or without its advection kernel), IGNNK, and per-hour IDW and ordinary
kriging (each hour mapped on its own, as the classical baselines do).

Every method yields (time slice, (targets, hours) block) so callers write results window by
window; ``predict`` gathers the blocks for callers that want the whole table (tests, the bench,
cross-validation).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, Iterator, Optional, Tuple

import numpy as np

from ..progress import Progress, ensure
from ..station_points import IDW_K
from ..stations import Stations
from .series import StationSeries
from .wind import Wind, filled_wind, local_km

HOURS_PER_BLOCK = 24


@dataclass(frozen=True)
class SeriesMethod:
    key: str
    label: str
    model: Optional[str] = None    # ONNX task of a deep method
    advection: bool = True
    file: Optional[str] = None     # shipped ONNX file name in models/<task>/ (default <task>.onnx)


METHODS: Dict[str, SeriesMethod] = {m.key: m for m in (
    SeriesMethod("spin", "SPIN", "spin"),
    SeriesMethod("ignnk", "IGNNK", "ignnk"),
    SeriesMethod("idw", "IDW per hour"),
    SeriesMethod("kriging", "Ordinary kriging per hour"),
    SeriesMethod("spin_diffusion", "SPIN trained with the diffusion kernel only", "spin", advection=False,
                 file="spin_diffusion.onnx"),
)}
CV_METHODS = ("spin", "ignnk", "idw", "kriging")


def blocks(method: str, series: StationSeries, wind: Optional[Wind], target_lon, target_lat,
           target_wind: Optional[Wind] = None, model_path: Optional[str] = None, device: str = "auto",
           progress: Optional[Progress] = None) -> Iterator[Tuple[slice, np.ndarray]]:
    """Estimates at the targets, window by window. ``wind``: at the stations; ``target_wind``:
    at the targets (SPIN's wind features); either None = unknown."""
    entry = METHODS[method]
    target_lon = np.asarray(target_lon, float)
    target_lat = np.asarray(target_lat, float)
    if entry.model:
        from .infer import infer_at_targets, load_series_model, shipped_model

        model = load_series_model(entry.model, model_path or shipped_model(entry.model, entry.file), device,
                                  entry.advection)
        if entry.model == "spin" and not model.advection:
            ensure(progress).info("This SPIN model uses the diffusion kernel only (its card: trained without "
                                  "advection), so the wind does not enter its graph.")
        u, v = filled_wind(wind, series.values.shape)
        tu, tv = filled_wind(target_wind, (target_lon.size, series.times.size))
        yield from infer_at_targets(model, series.lon, series.lat, series.values, u, v, target_lon, target_lat,
                                    tu, tv, progress)
        return
    yield from _per_hour(method, series, target_lon, target_lat, ensure(progress))


def _per_hour(method: str, series: StationSeries, target_lon, target_lat, progress: Progress):
    from ..baselines import idw_at, kriging_at

    lat0 = float(np.mean(series.lat))
    sx, sy = local_km(series.lon, series.lat, lat0)
    tx, ty = local_km(target_lon, target_lat, lat0)
    total = series.times.size
    for start in range(0, total, HOURS_PER_BLOCK):
        stop = min(total, start + HOURS_PER_BLOCK)
        out = np.full((target_lon.size, stop - start), np.nan, np.float32)
        for t in range(start, stop):
            have = np.isfinite(series.values[:, t])
            if not have.any():
                continue
            st = Stations(sx[have], sy[have], series.values[have, t])
            if method == "kriging" and have.sum() >= 3:
                out[:, t - start] = kriging_at(st, tx, ty)[0]
            else:  # IDW, and kriging's fallback when fewer than 3 stations report this hour
                out[:, t - start] = idw_at(st, tx, ty, k=IDW_K)
        progress.set(stop / total)
        yield slice(start, stop), out


def predict(method: str, series: StationSeries, wind: Optional[Wind], target_lon, target_lat,
            target_wind: Optional[Wind] = None, **options) -> np.ndarray:
    """(targets, T) estimates over the whole series."""
    out = np.full((len(target_lon), series.times.size), np.nan, np.float32)
    for sl, block in blocks(method, series, wind, target_lon, target_lat, target_wind, **options):
        out[:, sl] = block
    return out
