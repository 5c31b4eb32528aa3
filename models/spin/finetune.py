"""SPIN fine-tuning on the user's own station series (airmap:finetunespin), self-supervised.

The game SPIN was trained by, played on the user's network: random 48-hour windows of their
series, a random subgraph of their stations, a random share of its nodes hidden; the loss is
the L1 error where the hidden nodes measured (+ the AOD gradient term when an AOD stack is
given: AOD shapes the training, it is never an input). The shipped model learned one city and
one season (Beijing, May to October 2014); the bench (section ``spin``) shows the same recipe
trained also on the visible stations' winter record doing better at the hidden stations, which
is what a user's own record, of their network and the season they map, can teach it.

Held back: ``validation_fraction`` of the stations (at least one), whole series, never in a
training window. They are inferred from the other stations through the plugin's own path
(``core.timeseries.infer``: windows, graphs, normalisation) with the torch network in place of
ONNX Runtime, before, after every epoch, and after; the best epoch's weights are kept.
"""
from __future__ import annotations

import copy
import os
import tempfile
from typing import Optional

import numpy as np
import torch

from ...core.errors import AirmapInputError, ModelError
from ...core.metrics import score
from ...core.modelcard import write_card
from ...core.progress import Progress
from ...core.timeseries.infer import SeriesModel, infer_at_targets, load_series_model
from ...core.timeseries.wind import filled_wind
from ..finetune import FinetuneOptions, FinetuneResult, epochs_of, finetuned_card, split_indices, start, train_budget
from ..node_masking import MASK_SHARE, TrainingData
from ..onnx_weights import state_dict_from_onnx
from ..series_ensemble import build
from .export import INPUTS, check_inputs, export, graph_proto
from .losses import aod_gradient_loss, masked_l1
from .net import SPIN
from .train import ADVECTION_SHARE, AOD_WEIGHT, aod_table, batch

ALGORITHM = "finetunespin"
LR = 3e-4
BATCH = 8
MIN_TRAINING_STATIONS = 3


class TorchRunner:
    """The ONNX session interface ``SeriesModel`` calls (``run(feed) -> [estimate]``) on a torch
    network, so held-back stations are scored through the plugin's inference path."""

    def __init__(self, net: torch.nn.Module):
        self.net = net

    def run(self, feed):
        self.net.eval()
        with torch.no_grad():
            return [self.net(*(torch.from_numpy(feed[name]) for name in INPUTS)).numpy()]


def load_torch(path: str):
    """(card, torch network) of a SPIN .onnx file; the weights are checked against the file."""
    base = load_series_model("spin", path, device="cpu")
    net = build(SPIN, base.card["config"])
    state_dict_from_onnx(path, net, twin_export=lambda twin: graph_proto(twin, base.card["graph"]))
    check = check_inputs({"graph": base.card["graph"]})
    expected = base.onnx.run(check)[0]
    got = TorchRunner(net).run(check)[0]
    if not np.allclose(got, expected, rtol=1e-4, atol=1e-4):
        raise ModelError(f"Could not read the weights of '{os.path.basename(path)}' back into torch (largest "
                         f"difference {np.abs(got - expected).max():.3g}): re-export it with models/spin/export.py.")
    return base.card, net


def training_table(series, wind, keep: np.ndarray) -> TrainingData:
    """The stations ``keep`` of the user's series as the node-masking game's table (wind 0 where
    unknown, which switches advection off there, as at inference)."""
    u, v = filled_wind(wind, series.values.shape)
    return TrainingData(series.lon[keep], series.lat[keep], series.ids[keep], series.values[keep], u[keep], v[keep],
                        series.times)


def game_loss(net: torch.nn.Module, card: dict, data: TrainingData, rng: np.random.Generator,
              device: torch.device, aod: Optional[np.ndarray] = None) -> torch.Tensor:
    """One step of the training game on ``data``: a batch of windows and subgraphs with nodes
    hidden, L1 where they measured (+ the AOD gradient term with an (S, T) ``aod`` table). A
    diffusion-only model (its card) never gets the advection kernel."""
    graph = card["graph"]
    advection_share = ADVECTION_SHARE if graph.get("advection", True) else 0.0
    *tensors, aod_batch = batch(data, rng, int(card["window"]["length"]), BATCH, card["normalisation"],
                                graph["sigma_km"], graph["cutoff_km"], aod, advection_share, MASK_SHARE)
    value, observed, wind, a_diff, a_adv, truth, hidden = (t.to(device) for t in tensors)
    estimate = net(value, observed, wind, a_diff, a_adv)
    loss = masked_l1(estimate, truth, hidden * torch.isfinite(truth).float())
    if aod_batch is not None:
        loss = loss + AOD_WEIGHT * aod_gradient_loss(estimate, aod_batch.to(device), a_diff.sum(dim=1))
    return loss


def held_back(net: torch.nn.Module, card: dict, data: TrainingData, held: TrainingData) -> dict:
    """Scores of the ``held`` stations' series inferred from the ``data`` stations through the
    plugin's inference path, with a CPU copy of the torch network."""
    model = SeriesModel("spin", TorchRunner(copy.deepcopy(net).cpu()), card)
    estimate = np.full(held.values.shape, np.nan, np.float32)
    for sl, block in infer_at_targets(model, data.lon, data.lat, data.values, data.u, data.v, held.lon, held.lat,
                                      held.u, held.v):
        estimate[:, sl] = block
    return score(estimate, held.values)


def _check_series(series, length: int, fraction: float) -> None:
    if fraction <= 0:
        raise AirmapInputError("VALIDATION_FRACTION must hold back at least one station (e.g. 0.2): the fine-tuned "
                               "model is chosen by its score at stations it never trained on.")
    if len(series) < MIN_TRAINING_STATIONS + 1:
        raise AirmapInputError(f"Fine-tuning SPIN needs at least {MIN_TRAINING_STATIONS + 1} stations with values "
                               f"(some are hidden from the others), the input has {len(series)}.")
    if series.times.size <= length:
        raise AirmapInputError(f"Fine-tuning SPIN needs a series longer than its {length}-step window, the input has "
                               f"{series.times.size} time steps: give a longer period (START/END).")


def finetune(series, wind, out_path: str, options: FinetuneOptions, aod: Optional[str] = None,
             summary: Optional[dict] = None, progress: Optional[Progress] = None) -> FinetuneResult:
    """Fine-tune the SPIN model ``options.base_model`` on ``series`` (a StationSeries) with
    ``wind`` (a Wind at its stations, or None) and write it to ``out_path``. ``aod``: an AOD
    raster stack (lon/lat, band descriptions = times), a loss term only."""
    device = start(options)
    rng = np.random.default_rng(options.seed)
    base_card, net = load_torch(options.base_model)
    card = copy.deepcopy(base_card)
    length = int(card["window"]["length"])
    _check_series(series, length, options.validation_fraction)
    train_idx, held_idx = split_indices(len(series), options.validation_fraction, rng)
    if train_idx.size < MIN_TRAINING_STATIONS:
        raise AirmapInputError(f"VALIDATION_FRACTION leaves {train_idx.size} station(s) to train on: lower it "
                               f"(at least {MIN_TRAINING_STATIONS} are needed).")
    data = training_table(series, wind, train_idx)
    held = training_table(series, wind, held_idx)
    aod_values = aod_table(aod, data) if aod else None
    if aod_values is not None and not np.isfinite(aod_values).any():
        raise AirmapInputError("The AOD stack covers none of the training stations' hours: check its extent and "
                               "its band times.")
    net.to(device)

    def step_loss(step: int) -> torch.Tensor:
        return game_loss(net, card, data, rng, device, aod_values)

    def held_back_scores() -> dict:
        return held_back(net, card, data, held)

    def validate() -> float:
        return float(held_back_scores()["MAE"])

    before = held_back_scores()
    if before["N"] == 0:
        raise AirmapInputError("The held-back stations never measured while the others did: choose another SEED or "
                               "VALIDATION_FRACTION, or give a series with fewer gaps.")
    windows = len(data.ids) * max(1, series.times.size // length)
    run = train_budget(net, step_loss, validate, options, options.lr or LR, epochs_of(windows, BATCH), progress)
    after = held_back_scores()
    net.cpu()
    data_info = dict(summary or {}, stations=int(len(series)), training_stations=int(train_idx.size),
                     held_back_stations=[str(i) for i in held.ids], hours=int(series.times.size),
                     start=str(series.times[0]), end=str(series.times[-1]),
                     measured_share=round(float(np.isfinite(series.values).mean()), 4),
                     wind="given" if wind is not None else "none (diffusion only)",
                     aod="loss term" if aod_values is not None else "none")
    protocol = ("dynamic node masking on the user's series: random windows of "
                f"{length} steps, random subgraphs, {int(MASK_SHARE[0] * 100)}-{int(MASK_SHARE[1] * 100)} % of "
                "their nodes hidden, L1 where the hidden nodes measured"
                + (f" + {AOD_WEIGHT} x AOD gradient term" if aod_values is not None else ""))
    with tempfile.TemporaryDirectory() as tmp:
        checkpoint = os.path.join(tmp, "spin.pt")
        torch.save({"config": card["config"], "state_dict": net.state_dict(), "training": {}, "graph": card["graph"],
                    "window": card["window"], "normalisation": card["normalisation"]}, checkpoint)
        written = export(checkpoint, out_path, score=False)
    card.update({k: written[k] for k in ("parameters", "inputs")})
    finetuned_card(card, base_card, options, algorithm=ALGORITHM, protocol=protocol, what="station series",
                   data=data_info, run=run, before=before, after=after, device=device,
                   metric="MAE at the held-back stations", lr=options.lr or LR)
    card["metrics"]["onnx_vs_torch_max_abs"] = written["metrics"]["onnx_vs_torch_max_abs"]
    card.pop("selection", None)   # the base model's setting search, not this run's
    write_card(out_path, card)
    return FinetuneResult(out_path, card, run["curve"], before, after, data_info, run["steps"], run["minutes"])
