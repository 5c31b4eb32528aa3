"""The training game SPIN and IGNNK share: windows of the Beijing training months over the
stations the bench never scores, a random subgraph of them, and a random share of its nodes
hidden (dynamic node masking); the loss is scored where the hidden nodes measured.

Nothing here looks at the bench's hidden stations, nor at 2014-11 .. 2014-12 unless a run asks
for the whole record (``--all-months``, a bench diagnostic, never a shipped model).
"""
from __future__ import annotations

import os
import time
from dataclasses import dataclass
from typing import Tuple

import numpy as np

from ..core.errors import AirmapInputError
from ..core.timeseries import beijing
from ..core.timeseries.normalise import series_normalisation

SCALE = 100.0              # ug/m3 -> network units (PM2.5 in Beijing: 0 .. ~600)
MASK_SHARE = (0.25, 0.6)   # share of a subgraph's nodes hidden per sample
MIN_NODES = 10             # smallest random subgraph (or all nodes of a smaller network)
MAX_DRAWS = 1000           # window draws before a sample gives up on a gappy series


def add_series_arguments(ap, lr: float, window: int, norm: str) -> None:
    """The options SPIN's and IGNNK's trainers share: --lr, --window (hours), --norm, --until,
    --exclude-share."""
    from .series_validation import add_until_argument

    ap.add_argument("--lr", type=float, default=lr)
    ap.add_argument("--window", type=int, default=window)
    ap.add_argument("--norm", choices=("scale", "window_mean"), default=norm)
    add_until_argument(ap)
    # None (the shipped models) leaves the flag out of the recorded command
    ap.add_argument("--exclude-share", type=float, default=None,
                    help="share of the stations left out of training: the bench's hidden set of that share "
                         f"(default {beijing.TRAINING_EXCLUDES}, the largest; 0.25 trains the bench's 25 %% "
                         "scenario models on the 27 other stations)")
    ap.add_argument("--all-months", action="store_true",
                    help="train on the whole series, the bench's scored months included, at the stations "
                         "outside the --exclude-share set only (a diagnostic of the season the training months "
                         "lack; the hidden stations are never seen)")


def normalisation_card(kind: str = "scale") -> dict:
    return series_normalisation(kind, SCALE)


@dataclass
class TrainingData:
    lon: np.ndarray
    lat: np.ndarray
    ids: np.ndarray
    values: np.ndarray  # (S, T) ug/m3, NaN gaps
    u: np.ndarray       # (S, T) m/s, 0 where unknown
    v: np.ndarray
    times: np.ndarray
    excluded_share: float = beijing.TRAINING_EXCLUDES

    def describe(self) -> str:
        return (f"Beijing AQI-36 PM2.5 + UCI wind, {self.times[0]} .. {self.times[-1]}, {len(self.ids)} stations "
                f"(the {int(self.excluded_share * 100)} % hidden in the bench, seed {beijing.HIDDEN_SEED}, "
                "excluded)")


def training_data(folder: str = None, until: str = None, exclude_share: float = None,
                  all_months: bool = False) -> TrainingData:
    """The training months at the training stations; ``until`` (ISO time) ends them earlier, so
    the rest of the training period can validate choices (``models.series_validation``).
    ``exclude_share``: the bench's hidden set left out (default ``beijing.TRAINING_EXCLUDES``, the
    largest, so the shipped models never saw a scored station; a smaller share gives the models
    of that scenario alone, trained on the denser network the scenario leaves visible).
    ``all_months``: the whole series at those stations, the bench's scored months included."""
    share = beijing.TRAINING_EXCLUDES if exclude_share is None else exclude_share
    series, wind = beijing.load(folder)
    train, _ = beijing.split(series, wind)
    if all_months:
        train = slice(0, series.times.size)
    if until:
        train = slice(0, min(train.stop, int(np.searchsorted(series.times, np.datetime64(until)))))
    keep = ~beijing.hidden_stations(len(series), share)
    u, v = wind.filled()
    return TrainingData(series.lon[keep], series.lat[keep], series.ids[keep], series.values[keep, train],
                        u[keep, train], v[keep, train], series.times[train], share)


def sample(data: TrainingData, rng: np.random.Generator, length: int, nodes: int, mask_share=MASK_SHARE
           ) -> Tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """One sample: (node index, window start, truth (n, L), input with hidden nodes NaN,
    hidden mask (n,), u/v stacked (2, n, L))."""
    s = len(data.ids)
    pick = np.sort(rng.choice(s, size=nodes, replace=False))
    for _ in range(MAX_DRAWS):
        t0 = int(rng.integers(0, data.values.shape[1] - length))
        truth = data.values[pick, t0:t0 + length]
        if np.isfinite(truth).mean() > 0.5:
            break
    else:   # a user's sparse series (fine-tuning): say so instead of drawing forever
        raise AirmapInputError(
            f"In {MAX_DRAWS} random windows of {length} time steps, the stations never measured more than half "
            "of the station-hours: give a series with fewer gaps (or a longer one).")
    hidden = np.zeros(nodes, bool)
    share = rng.uniform(*mask_share)
    hidden[rng.choice(nodes, size=max(1, min(nodes - 2, int(round(share * nodes)))), replace=False)] = True
    inp = truth.copy()
    inp[hidden] = np.nan
    wind = np.stack([data.u[pick, t0:t0 + length], data.v[pick, t0:t0 + length]])
    return pick, t0, truth, inp, hidden, wind


def subgraph_size(data: TrainingData, rng: np.random.Generator) -> int:
    return int(rng.integers(min(MIN_NODES, len(data.ids)), len(data.ids) + 1))


def save_run(args, say, module: str, name: str, model, config: dict, data: TrainingData, minutes: float,
             record: dict, graph: dict, normalisation: dict, validation=None) -> str:
    """Write ``<out>/<name>.pt``: weights, config, graph and window settings, normalisation and the
    run record (data, seed, reproduce command, budget + the trainer's own ``record`` fields).
    Plain types and tensors only, so the exporter reads it with ``weights_only=True``.
    ``validation`` = (exporter, method): with ``--until``, the run is validated and its scores
    added to the record (``series_validation``)."""
    import torch

    from .training_loop import optimiser_budget, reproduce_command

    full = {"data": data.describe(), "seed": args.seed, "command": reproduce_command(module, args),
            "budget": f"{args.steps} steps x batch {args.batch} windows of {args.window} h, "
                      + optimiser_budget(args.lr, minutes)}
    full.update(record)
    full["process_cpu_minutes"] = round(time.process_time() / 60, 2)  # the whole run; wall time shares the cores
    full["finished"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    path = os.path.join(args.out, f"{name}.pt")
    torch.save({"config": config, "state_dict": model.state_dict(), "training": full, "graph": graph,
                "window": {"length": args.window, "keep": args.window // 2}, "normalisation": normalisation}, path)
    say(f"wrote {path}")
    if validation is not None:
        from .series_validation import record_validation

        record_validation(args, say, path, *validation)
    return path


def masking_record(data: TrainingData, mask_share=MASK_SHARE) -> dict:
    return {"subgraph_nodes": [MIN_NODES, len(data.ids)], "hidden_share": list(mask_share)}
