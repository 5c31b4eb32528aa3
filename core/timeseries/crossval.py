"""Leave-stations-out validation of series methods over whole series: hidden stations are
removed from the input entirely (every hour), inferred from the others, and scored where they
measured. ``cross_validate_series`` folds every station once; ``score_hidden`` scores one fixed
hidden set (the bench's 25 % / 50 % protocol)."""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Dict, List, Optional

import numpy as np

from ..crossval import assign_folds
from ..errors import AirmapInputError
from ..metrics import score
from ..progress import Progress, ensure
from . import methods
from .series import StationSeries, require_usable
from .wind import Wind


def _subset_wind(wind: Optional[Wind], keep: np.ndarray) -> Optional[Wind]:
    return None if wind is None else Wind(wind.u[keep], wind.v[keep], wind.source)


def infer_hidden(method: str, series: StationSeries, wind: Optional[Wind], hidden: np.ndarray,
                 progress: Optional[Progress] = None, **options) -> np.ndarray:
    """(hidden stations, T) estimates from the visible stations only."""
    visible = series.subset(~hidden)
    return methods.predict(method, visible, _subset_wind(wind, ~hidden), series.lon[hidden], series.lat[hidden],
                           _subset_wind(wind, hidden), progress=progress, **options)


@dataclass
class HiddenScore:
    method: str
    metrics: Dict[str, float]
    cpu_seconds: float
    station_hours: int

    @property
    def cpu_per_1000(self) -> float:
        return 1000.0 * self.cpu_seconds / max(self.station_hours, 1)


def score_hidden(method: str, series: StationSeries, wind: Optional[Wind], hidden: np.ndarray,
                 **options) -> HiddenScore:
    """Metrics at the hidden stations and the CPU time spent per inferred station-hour."""
    start = time.process_time()
    pred = infer_hidden(method, series, wind, hidden, **options)
    cpu = time.process_time() - start
    return HiddenScore(method, score(pred, series.values[hidden]), cpu, int(pred.size))


@dataclass
class SeriesCrossValidation:
    method: str
    predicted: np.ndarray       # (S, T), each station inferred while held out
    fold: np.ndarray            # (S,)
    metrics: Dict[str, float]
    per_station: List[Dict[str, float]]
    notes: List[str] = field(default_factory=list)


def cross_validate_series(series: StationSeries, wind: Optional[Wind], method: str, folds: int = 5,
                          seed: int = 0, progress: Optional[Progress] = None, **options) -> SeriesCrossValidation:
    """k-fold leave-stations-out over whole series."""
    if method not in methods.METHODS:
        raise AirmapInputError(f"Unknown method '{method}': choose one of {', '.join(methods.METHODS)}.")
    if folds < 2:
        raise AirmapInputError(f"FOLDS must be at least 2, got {folds}.")
    require_usable(series, max(folds, 3))
    progress = ensure(progress)
    fold = assign_folds(len(series), folds, seed)
    predicted = np.full(series.values.shape, np.nan, np.float32)
    for k in range(folds):
        hidden = fold == k
        predicted[hidden] = infer_hidden(method, series, wind, hidden, progress.sub(k / folds, (k + 1) / folds),
                                         **options)
    per_station = [score(predicted[s], series.values[s]) for s in range(len(series))]
    return SeriesCrossValidation(method, predicted, fold, score(predicted, series.values), per_station)
