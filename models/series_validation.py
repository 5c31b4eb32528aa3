"""Choosing SPIN's and IGNNK's settings without looking at the bench.

A selection run trains on 2014-05 .. 2014-09 (``--until 2014-10-01``) and is scored on October
2014, leave-stations-out over the 18 training stations only (3 folds: a third of them hidden
for the whole month, inferred from the rest). The bench's months (November, December) and its
hidden stations play no part. The chosen settings are then retrained on 2014-05 .. 2014-10.
"""
from __future__ import annotations

import os

import numpy as np

FOLDS = 3          # a third of the 18 training stations hidden per fold
FOLD_SEED = 0


def validation_data(since: str, folder: str = None):
    """(series, wind) of the training stations from ``since`` to the end of the training months."""
    from ..core.timeseries import beijing
    from ..core.timeseries.wind import Wind

    series, wind = beijing.load(folder)
    train, _ = beijing.split(series, wind)
    keep = ~beijing.hidden_stations(len(series), beijing.TRAINING_EXCLUDES)
    start = int(np.searchsorted(series.times, np.datetime64(since)))
    hours = slice(start, train.stop)
    part = series.subset(keep)
    part = part.between(part.times[hours][0], part.times[hours][-1])
    return part, Wind(wind.u[keep][:, hours], wind.v[keep][:, hours], wind.source)


def validate(checkpoint: str, export, method: str, since: str) -> dict:
    """Export ``checkpoint`` next to it (no bench scores) and cross-validate the file on the
    validation month with the plugin's own inference path. Returns the pooled metrics."""
    from ..core.onnx_runtime import clear_cache
    from ..core.timeseries.crossval import cross_validate_series

    path = os.path.splitext(checkpoint)[0] + "_validation.onnx"
    export(checkpoint, path, False)
    clear_cache()
    series, wind = validation_data(since)
    cv = cross_validate_series(series, wind, method, folds=FOLDS, seed=FOLD_SEED, model_path=path, device="cpu")
    clear_cache()
    return {"period": f"{series.times[0]} .. {series.times[-1]}", "stations": len(series), "folds": FOLDS,
            **{k: round(float(cv.metrics[k]), 4) for k in ("N", "MAE", "RMSE", "R")}}


def record_validation(args, say, checkpoint: str, export, method: str) -> None:
    """With ``--until``: validate the run and add the scores to its checkpoint's run record."""
    import torch

    if not args.until:
        return
    scores = validate(checkpoint, export, method, args.until)
    say(f"validation ({method}, trained until {args.until}): {scores}")
    ckpt = torch.load(checkpoint, map_location="cpu", weights_only=True)
    ckpt["training"]["validation"] = scores
    torch.save(ckpt, checkpoint)


def add_until_argument(ap) -> None:
    ap.add_argument("--until", default=None,
                    help="end the training months here (e.g. 2014-10-01) and validate on the rest of them")
