"""Cross-validation of station -> grid methods: k-fold leave-stations-out, or
leave-groups-out (e.g. whole cities) when groups are given.

Method options (covariate rasters, meteorological station networks, a model file; see
``station_methods.OPTIONS``) are passed unchanged to every fold: only the stations being
validated are folded. Other networks (RH, wind speed) are not held out, as they would not be
when the method maps a region where those stations exist.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Dict, List, Mapping, Optional

import numpy as np

from .errors import AirmapInputError, Cancelled
from .grid import Grid
from .metrics import score
from .progress import Progress, ensure
from .station_methods import METHODS
from .stations import Stations


@dataclass
class CrossValidation:
    method: str
    observed: np.ndarray
    predicted: np.ndarray
    fold: np.ndarray
    metrics: Dict[str, float]
    notes: List[str] = field(default_factory=list)  # ignored options, and what the first fold's run said


def assign_folds(n: int, folds: int, seed: int, groups: Optional[np.ndarray] = None) -> np.ndarray:
    """Fold index per station; with groups, whole groups share a fold."""
    rng = np.random.default_rng(seed)
    if groups is None:
        order = rng.permutation(n)
        fold = np.empty(n, dtype=int)
        fold[order] = np.arange(n) % folds
        return fold
    names, inverse = np.unique(np.asarray(groups).astype(str), return_inverse=True)
    if names.size < folds:
        raise AirmapInputError(f"Only {names.size} groups for {folds} folds: lower FOLDS or choose a group field "
                               "with more distinct values.")
    group_fold = np.empty(names.size, dtype=int)
    group_fold[rng.permutation(names.size)] = np.arange(names.size) % folds
    return group_fold[inverse.ravel()]


def cross_validate(stations: Stations, method: str, folds: int = 10, seed: int = 0,
                   groups: Optional[np.ndarray] = None, grid: Optional[Grid] = None,
                   crs: Optional[str] = None, progress: Optional[Progress] = None,
                   options: Optional[Mapping[str, object]] = None) -> CrossValidation:
    """Hold out each fold, fit ``method`` on the rest and predict the held-out stations.

    ``options``: method options by name (``station_methods.OPTIONS``), e.g.
    ``{"covariates": {"dem": raster}, "met_stations": {"rh": ..., "wind_speed": ...},
    "model_path": "my.onnx"}``. Options the method does not take are ignored and named in
    ``notes`` (and the log). The messages of the method's own run (which model, which
    covariates) are logged for the first fold only, so ten folds do not repeat them ten times.
    """
    if method not in METHODS:
        raise AirmapInputError(f"Unknown method '{method}': choose one of {', '.join(METHODS)}.")
    if folds < 2:
        raise AirmapInputError(f"FOLDS must be at least 2, got {folds}.")
    if len(stations) < folds:
        raise AirmapInputError(f"{len(stations)} stations cannot be split into {folds} folds: lower FOLDS.")
    progress = ensure(progress)
    entry = METHODS[method]
    used, ignored = entry.split_options(options)
    notes: List[str] = []

    def note(message: str) -> None:
        notes.append(message)
        progress.info(message)

    if ignored:
        note(entry.ignored_note(ignored))
    fold = assign_folds(len(stations), folds, seed, groups)
    predicted = np.full(len(stations), np.nan)
    for k in range(folds):
        test = fold == k
        train = stations.subset(~test)
        fold_progress = _fold_progress(progress, k, folds, note if k == 0 else None)
        predicted[test] = entry.at_points(train, stations.x[test], stations.y[test], crs or (grid.crs if grid else None),
                                          grid, progress=fold_progress, **used)
        progress.set((k + 1) / folds)
    return CrossValidation(method, stations.values.copy(), predicted, fold, score(predicted, stations.values), notes)


def _fold_progress(progress: Progress, k: int, folds: int, log) -> Progress:
    """Fold ``k``'s share of the progress bar (cancel honoured); its messages go to ``log``
    (None: dropped)."""
    share = progress.sub(k / folds, (k + 1) / folds)

    def cancelled() -> bool:
        try:
            share.check()
        except Cancelled:
            return True
        return False

    return Progress(share.set, cancelled, log)
