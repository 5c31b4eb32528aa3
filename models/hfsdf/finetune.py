"""HF-SDF fine-tuning on the user's own maps (airmap:finetunehfsdf), self-supervised.

The decoder and one latent per map are fitted jointly to the user's maps with the training
loss of the shipped model (``losses.coded_loss``), every map's no-data cells simply absent
from its points. Each latent starts where the plugin's own latent fit puts it for the base
decoder, so training starts from what the user gets today.

Held back: ``validation_fraction`` of the valid observations of every map, drawn at random;
they are never lifted into the training points. Every check runs the plugin's own read-out
(Levenberg-Marquardt latent fit on the visible observations from the plugin's start, root finding
at the held-back locations): per epoch with the torch network (on at most ``VALIDATION_MAPS``
maps), before and after on the base file and on the written ONNX file. The latents trained
jointly with the decoder are not what the plugin uses (it fits a new one per map), so they are
not what is scored.
"""
from __future__ import annotations

import copy
import os
from typing import List, Optional, Sequence

import numpy as np
import torch

from ...core.errors import AirmapInputError
from ...core.hfsdf import Observations, load_decoder
from ...core.hfsdf.latent import MIN_POINTS, fit_latent
from ...core.hfsdf.prior import HeightPrior
from ...core.hfsdf.readout import root_find
from ...core.metrics import score
from ...core.progress import Progress
from ..finetune import FinetuneOptions, FinetuneResult, epochs_of, lineage, start, train_budget, training_entry
from ..onnx_weights import state_dict_from_onnx
from .export import export_onnx
from .losses import coded_loss
from .net import ImplicitNet, NetConfig

ALGORITHM = "finetunehfsdf"
LR = 5e-4
MAPS_PER_BATCH = 8
POINTS_PER_MAP = 256
EPOCH_STEPS = 25      # at least: each check is a latent fit and a read-out per map
VALIDATION_MAPS = 4


def split_maps(maps: Sequence[Observations], fraction: float, rng: np.random.Generator):
    """Per map: (visible Observations, held-back x, y, values)."""
    out = []
    for k, obs in enumerate(maps):
        n = obs.values.size
        hide = np.zeros(n, bool)
        if fraction > 0:
            hide[rng.choice(n, max(1, int(round(n * fraction))), replace=False)] = True
        if (~hide).sum() < MIN_POINTS:
            raise AirmapInputError(f"Map {k + 1} has {n} valid observations: after holding back "
                                   f"{hide.sum()} it keeps fewer than {MIN_POINTS}; give maps with more data or lower "
                                   "VALIDATION_FRACTION.")
        visible = Observations(obs.x[~hide], obs.y[~hide], obs.values[~hide], obs.bounds)
        out.append((visible, obs.x[hide], obs.y[hide], obs.values[hide]))
    return out


def predict_held_back(decoder, parts, seed: int) -> np.ndarray:
    """The plugin's read-out at the held-back locations of every map, from its visible part."""
    preds = []
    for visible, x, y, _ in parts:
        if x.size == 0:
            continue
        cube = visible.cube()
        points = cube.lift(visible.x, visible.y, visible.values)
        latent = fit_latent(decoder, points, seed=seed).latent
        xy = cube.xy(x, y)
        z, _ = root_find(decoder, latent, xy, z0=HeightPrior(points)(xy))
        preds.append(cube.value_from_cube(z))
    return np.concatenate(preds) if preds else np.zeros(0)


def finetune(maps: List[Observations], out_path: str, options: FinetuneOptions, summary: Optional[dict] = None,
             progress: Optional[Progress] = None) -> FinetuneResult:
    """Fine-tune the coded HF-SDF decoder ``options.base_model`` on ``maps`` and write it."""
    from ...core.progress import ensure

    progress = ensure(progress)
    device = start(options)
    rng = np.random.default_rng(options.seed)
    if not maps:
        raise AirmapInputError("No map to fine-tune on: give a raster with valid cells or stations with values.")
    base = load_decoder(options.base_model, device="cpu", threads=options.threads)
    card = copy.deepcopy(base.model.card)
    if not base.latent_dim:
        raise AirmapInputError(f"{os.path.basename(options.base_model)} is a single-map HF-SDF network without "
                               "latent codes: fine-tune the coded model (the shipped hfsdf.onnx).")
    parts = split_maps(maps, options.validation_fraction, rng)
    truth = np.concatenate([v for *_, v in parts]) if parts else np.zeros(0)
    progress.info(f"HF-SDF: scoring the base model on {truth.size} held-back observations")
    before = score(predict_held_back(base, parts, options.seed), truth) if truth.size else {}

    cubes = [visible.cube() for visible, *_ in parts]
    points = [c.lift(v.x, v.y, v.values) for c, (v, *_) in zip(cubes, parts)]
    start_latents = [fit_latent(base, p, seed=options.seed).latent for p in points]

    net = ImplicitNet(NetConfig.from_dict(card["network"]))
    state_dict_from_onnx(options.base_model, net)
    net.to(device)
    latents = torch.tensor(np.stack(start_latents), dtype=torch.float32, device=device, requires_grad=True)
    batch = min(MAPS_PER_BATCH, max(1, len(points)))

    def step_loss(step: int) -> torch.Tensor:
        picks = rng.choice(len(points), batch, replace=len(points) < batch)
        surf = np.stack([points[m][rng.choice(len(points[m]), POINTS_PER_MAP, replace=len(points[m]) < POINTS_PER_MAP)]
                         for m in picks])
        loss, _ = coded_loss(net, latents[torch.from_numpy(picks).to(device)], surf, rng)
        return loss

    checked = [p for p in parts if p[1].size][:VALIDATION_MAPS]
    checked_truth = np.concatenate([v for *_, v in checked]) if checked else np.zeros(0)

    def validate() -> float:
        """RMSE of the plugin's read-out at the held-back observations, torch network."""
        if not checked:
            return 0.0
        from .single_map import TorchDecoder

        pred = predict_held_back(TorchDecoder(net.cpu()), checked, options.seed)
        net.to(device)
        return float(np.sqrt(np.mean((pred - checked_truth) ** 2)))

    run = train_budget(net, step_loss, validate, options, options.lr or LR,
                       epochs_of(sum(len(p) for p in points), batch * POINTS_PER_MAP, low=EPOCH_STEPS),
                       progress, extra_params=[latents])
    net = net.cpu().float()
    protocol = ("decoder and one latent per map fitted jointly with the training loss to the visible observations "
                "(no-data cells absent); latents start at the plugin's latent fit of the base decoder")
    data_info = dict(summary or {}, maps=len(maps), observations=int(sum(m.values.size for m in maps)),
                     held_back=f"{truth.size} observations ({options.validation_fraction:.0%} of each map, random)")
    card["training"] = training_entry(options, ALGORITHM, f"user maps, {protocol}", run, options.lr or LR, device)
    card["training"]["maps"] = len(maps)
    card["metrics"] = {}
    export_onnx(net, out_path, card)
    after = score(predict_held_back(load_decoder(out_path, device="cpu", threads=options.threads), parts, options.seed), truth) \
        if truth.size else {}
    card["finetuning"] = lineage(options, base.model.card, algorithm=ALGORITHM, protocol=protocol, data=data_info,
                                 run=run, before=before, after=after, device=device,
                                 metric="error at held-back observations, plugin read-out (input units)")
    card["metrics"] = {"held_back_user_data": {"before": before, "after": after}}
    card["name"] = base.model.card["name"].replace("(simulated maps)", "(fine-tuned on user maps)")
    export_onnx(net, out_path, card)   # same weights, the card now with the measured scores
    return FinetuneResult(out_path, card, run["curve"], before, after, data_info, run["steps"], run["minutes"])
