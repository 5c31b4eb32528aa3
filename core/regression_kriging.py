"""Regression kriging of a gridded estimator on the user's stations, with a trend weight the
stations themselves choose.

The map is ``c * network + ordinary kriging of (station - c * network)``. Two things make it
honest where the plain "network + kriged residuals" is not:

- **Out-of-sample trend values.** A station is an input of the network, so the network's value
  in the station's own cell is partly the station: residuals read there are too small and say
  little about the error between stations. The residuals are read instead from runs with that
  station's share of the network hidden (``folds`` runs, each hiding one share).
- **The trend weight ``c`` chosen by cross-validation at the stations**, not by least squares.
  Ordinary kriging of the residuals also recovers part of what the network knows, so the best
  weight of the network inside regression kriging is smaller than its least-squares slope.
  ``c`` is the candidate (0 ... ``max``) whose leave-share-out error at the stations is lowest;
  ``c = 0`` is ordinary kriging (the stations say the network adds nothing), ``c = 1`` the
  classic network-plus-residuals.

Kriging is linear in the data, so this is also a stacking of the network and ordinary kriging
(weight ``c`` on the network, ``1 - c`` on kriging) whose weight is fitted out of sample.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, List, Optional

import numpy as np

from .geodesy import is_geographic
from .grid import Grid
from .progress import Progress, ensure
from .stations import Stations

FOLDS = 5
WEIGHTS = tuple(np.round(np.linspace(0.0, 1.2, 13), 2))   # candidate trend weights c
MIN_STATIONS = 4 * FOLDS                                  # fewer: slope 1, in-sample residuals


@dataclass
class TrendChoice:
    weight: float                    # c
    cv_rmse: dict                    # candidate c -> leave-share-out RMSE at the stations
    out_of_sample: np.ndarray        # network value at each station with its share hidden


def choose_weight(network_at: Callable[[Stations, Stations], np.ndarray], stations: Stations,
                  geographic: bool, folds: int = FOLDS, weights=WEIGHTS, seed: int = 0,
                  progress: Optional[Progress] = None) -> TrendChoice:
    """The trend weight by ``folds``-fold cross-validation at ``stations``, nested so that each
    scored share is hidden from everything its prediction uses.

    ``network_at(inputs, targets)``: the network's values at ``targets`` from the stations
    ``inputs`` only. Share k is predicted as ``c * network(all but k)`` plus kriging of the
    residuals of every other share m, read from ``network(all but k and m)``: the residuals
    are out of sample as in the final map, and none of them saw share k (one run per pair of
    shares, ``folds * (folds - 1) / 2`` in all, plus one per share for the map's residuals)."""
    from .baselines.kriging import kriging_at
    from .crossval import assign_folds

    progress = ensure(progress)
    fold = assign_folds(len(stations), folds, seed)
    share = [fold == k for k in range(folds)]
    runs = folds + folds * (folds - 1) // 2
    done = 0
    single = np.full(len(stations), np.nan)           # network without the station's own share
    pair = {}                                          # (k, m) -> network without shares k and m, at share m
    for k in range(folds):
        progress.check()
        single[share[k]] = network_at(stations.subset(~share[k]), stations.subset(share[k]))
        done += 1
        progress.set(0.7 * done / runs)
        for m in range(k + 1, folds):
            progress.check()
            both = share[k] | share[m]
            at = network_at(stations.subset(~both), stations.subset(both))
            pair[k, m] = at[share[m][both]]
            pair[m, k] = at[share[k][both]]
            done += 1
            progress.set(0.7 * done / runs)
    y = stations.values
    errors = {float(c): [] for c in weights}
    for k in range(folds):
        progress.check()
        others = [m for m in range(folds) if m != k]
        train_x = np.concatenate([stations.x[share[m]] for m in others])
        train_y = np.concatenate([stations.y[share[m]] for m in others])
        train_v = np.concatenate([y[share[m]] for m in others])
        train_n = np.concatenate([pair[k, m] for m in others])
        ok = np.isfinite(train_n)
        test = share[k] & np.isfinite(single)
        if test.sum() == 0 or ok.sum() < 3:
            continue
        for c in weights:
            resid = Stations(train_x[ok], train_y[ok], train_v[ok] - c * train_n[ok])
            est, _ = kriging_at(resid, stations.x[test], stations.y[test], geographic=geographic)
            errors[float(c)].append((est + c * single[test] - y[test]) ** 2)
        progress.set(0.7 + 0.3 * (k + 1) / folds)
    rmse = {c: float(np.sqrt(np.mean(np.concatenate(e)))) for c, e in errors.items() if e}
    best = min(rmse, key=rmse.get)
    return TrendChoice(best, rmse, single)


def regression_kriging(field: np.ndarray, network_at: Optional[Callable[[Stations, Stations], np.ndarray]],
                       stations: Stations, grid: Grid, notes: List[str], seed: int = 0,
                       progress: Optional[Progress] = None) -> np.ndarray:
    """``c * field + ordinary kriging of (station - c * out-of-sample network)`` on ``grid``.

    ``field``: the network's map from all ``stations``; ``network_at`` as in ``choose_weight``.
    Without ``network_at``, or below ``MIN_STATIONS`` stations, no cross-validation is possible:
    weight 1 and the residuals in the stations' own cells (the classic network + kriged residuals)."""
    from .baselines.kriging import ordinary_kriging
    from .station_methods import sample_cells

    progress = ensure(progress)
    usable, _ = stations.valid()
    usable = usable.subset(grid.contains(usable.x, usable.y))
    if len(usable) < 3:
        notes.append("Residual kriging skipped: fewer than 3 stations inside the grid.")
        return field
    geographic = is_geographic(grid.crs)
    if network_at is None or len(usable) < MIN_STATIONS:
        weight, trend = 1.0, sample_cells(field, grid, usable.x, usable.y)
        why = "no re-run of the network" if network_at is None else f"fewer than {MIN_STATIONS} stations"
        how = f"weight 1 ({why} to choose it), residuals in the stations' own cells"
    else:
        choice = choose_weight(network_at, usable, geographic, seed=seed, progress=progress.sub(0.0, 0.8))
        weight, trend = choice.weight, choice.out_of_sample
        how = (f"weight {weight:g} chosen by {FOLDS}-fold cross-validation at the stations (RMSE "
               f"{choice.cv_rmse[weight]:.3g}; weight 1: {choice.cv_rmse.get(1.0, float('nan')):.3g}, weight 0 = "
               f"ordinary kriging: {choice.cv_rmse.get(0.0, float('nan')):.3g}), residuals out of sample")
    resid = usable.values - weight * trend
    keep = np.isfinite(resid)
    kriged = ordinary_kriging(Stations(usable.x[keep], usable.y[keep], resid[keep]), grid,
                              geographic=geographic, progress=progress.sub(0.8, 1.0))
    notes.append(f"Residual kriging (regression kriging) at {int(keep.sum())} stations: network {how}.")
    return (weight * field + kriged).astype(np.float32)
