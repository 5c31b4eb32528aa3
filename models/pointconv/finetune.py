"""PointConv fine-tuning on the user's own station network (airmap:finetunepointconv),
self-supervised: the leave-stations-out game the user will judge the model by.

Every step draws a day and a window of the working grid, hides a random share (10-40 %) of
the day's station cells in it and trains the network to predict the hidden cells from the
others (loss: the trainer's deep-supervised MAE, at the hidden cells only). The station values
are the only truth; no gridded field is needed.

Held back: ``validation_fraction`` of the station sites (all their days), never used as input
or target. They are scored through the plugin's own path (``core.pointconv.predict_pm25``, the
torch network in place of ONNX Runtime) from all training stations of each day.
"""
from __future__ import annotations

import copy
import os
from typing import Dict, List, Mapping, Optional

import numpy as np
import torch

from ...core import pointconv as pc
from ...core.errors import AirmapInputError
from ...core.grid import Grid
from ...core.metrics import score
from ...core.progress import Progress
from ...core.station_methods import sample_cells
from ...core.stations import Stations
from ..finetune import (EagerModel, FinetuneOptions, FinetuneResult, epochs_of, lineage, split_indices, start,
                        train_budget, training_entry)
from .export import export_model
from .train import HEAD_WEIGHTS
from .weights import checkpoint_from_onnx
from .net import PointConvUNetPP

ALGORITHM = "finetunepointconv"
LR = 2e-4
BATCH = 4
WINDOW = 128          # working-grid cells per training window side (multiple of 16)
HIDE = (0.1, 0.4)     # share of a day's station cells hidden per sample


def _sites(days: List[Mapping[str, Stations]]):
    """Unique PM2.5 station locations over all days and, per day, the site index of each station."""
    xy = np.concatenate([np.column_stack([d["pm25"].x, d["pm25"].y]) for d in days])
    sites, inverse = np.unique(np.round(xy, 9), axis=0, return_inverse=True)
    per_day, start_i = [], 0
    for d in days:
        n = len(d["pm25"])
        per_day.append(inverse.ravel()[start_i:start_i + n])
        start_i += n
    return sites, per_day


def _covariates_on(covariates: Mapping[str, Optional[object]], work: Grid):
    return {c: pc.covariate_on_grid(covariates.get(c), work, c) for c in pc.COVARIATES}


def finetune(days: List[Dict[str, Stations]], grid: Grid, out_path: str, options: FinetuneOptions,
             covariates: Optional[Mapping[str, object]] = None, summary: Optional[dict] = None,
             progress: Optional[Progress] = None) -> FinetuneResult:
    """Fine-tune the PointConv model ``options.base_model`` on ``days`` (each {'pm25': Stations,
    optionally 'rh', 'wind_speed'}, in ``grid``'s CRS) and write it to ``out_path``."""
    device = start(options)
    rng = np.random.default_rng(options.seed)
    days = [d for d in days if len(d["pm25"].valid()[0]) > 0]
    if not days:
        raise AirmapInputError("No station has a value: choose a layer and FIELD with measured values.")
    ckpt = checkpoint_from_onnx(options.base_model)
    card = copy.deepcopy(ckpt["card"])
    variant = card["variant"]
    if variant == "met" and not all("rh" in d and "wind_speed" in d for d in days):
        raise AirmapInputError(f"{os.path.basename(options.base_model)} is the meteorological PointConv model: give "
                               "RH_INPUT/RH_FIELD and WIND_INPUT/WIND_FIELD (same dates), or fine-tune a PM2.5-only model.")
    covariates = dict(covariates or {})
    sites, site_of = _sites(days)
    train_sites, held_sites = split_indices(len(sites), options.validation_fraction, rng)
    is_held = np.zeros(len(sites), bool)
    is_held[held_sites] = True
    train_days = [{**d, "pm25": d["pm25"].subset(~is_held[s])} for d, s in zip(days, site_of)]
    held_days = [d["pm25"].subset(is_held[s]) for d, s in zip(days, site_of)]
    cells = max(pc.rasterise_stations(d["pm25"], grid)[2] for d in train_days)
    work, factor = pc.working_grid(grid, cells)
    cov = _covariates_on(covariates, work)

    # Per day on the working grid: station-cell means of the training stations (and met networks).
    grids = []
    for d in train_days:
        value, mask, _ = pc.rasterise_stations(d["pm25"], work)
        met = {k: pc.rasterise_stations(d[k], work, k)[:2] for k in ("rh", "wind_speed") if variant == "met"}
        grids.append((value, mask, met))
    window = min(WINDOW, max(16, min(work.shape) // 16 * 16))

    model = PointConvUNetPP(len(pc.VARIANT_VARIABLES[variant]), len(pc.COVARIATES), ckpt["record"]["filters"],
                            ckpt["record"]["k1"], ckpt["record"]["k2"])
    model.load_state_dict(ckpt["state_dict"])
    model.to(device)

    def sample():
        value, mask, met = grids[int(rng.integers(len(grids)))]
        h, w = value.shape
        for _ in range(20):   # a window with enough stations to hide some
            r0 = int(rng.integers(max(1, h - window + 1)))
            c0 = int(rng.integers(max(1, w - window + 1)))
            win = (slice(r0, r0 + window), slice(c0, c0 + window))
            idx = np.flatnonzero(mask[win] > 0)
            if idx.size >= 4:
                break
        hide = rng.choice(idx, max(1, int(round(idx.size * rng.uniform(*HIDE)))), replace=False)
        vis_mask = mask[win].copy()
        vis_mask.flat[hide] = 0
        vis_value = value[win] * vis_mask
        scale = pc.pm25_scale(vis_value[vis_mask > 0])
        sparse = {"pm25": (vis_value, vis_mask)}
        sparse.update({k: (v[win], m[win]) for k, (v, m) in met.items()})
        x = pc.assemble_channels(variant, sparse, {c: (None if a is None else a[win]) for c, a in cov.items()}, scale)
        y = np.full((1,) + x.shape[1:], np.nan, np.float32)
        y[0].flat[hide] = value[win].flat[hide] / scale
        ph, pw = (-x.shape[1]) % pc.MULTIPLE, (-x.shape[2]) % pc.MULTIPLE
        x = np.pad(x, ((0, 0), (0, ph), (0, pw)))
        y = np.pad(y, ((0, 0), (0, ph), (0, pw)), constant_values=np.nan)
        return x, y

    def step_loss(step: int) -> torch.Tensor:
        xs, ys = zip(*(sample() for _ in range(BATCH)))
        shape = np.max([a.shape for a in xs], axis=0)
        x = np.zeros((BATCH,) + tuple(shape), np.float32)
        y = np.full((BATCH, 1) + tuple(shape[1:]), np.nan, np.float32)
        for i, (a, b) in enumerate(zip(xs, ys)):
            x[i, :, :a.shape[1], :a.shape[2]] = a
            y[i, :, :b.shape[1], :b.shape[2]] = b
        x, y = torch.from_numpy(x).to(device), torch.from_numpy(y).to(device)
        valid = torch.isfinite(y)
        outs = model(x)
        return sum(wt * (o[valid] - y[valid]).abs().mean() for wt, o in zip(HEAD_WEIGHTS, outs))

    def held_back_pairs(net):
        preds, truths = [], []
        for d, held in zip(train_days, held_days):
            if len(held) == 0:
                continue
            met = {k: d[k] for k in ("rh", "wind_speed") if variant == "met"} or None
            run = pc.predict_pm25(d["pm25"], grid, covariates=covariates, met_stations=met, model=net)
            preds.append(sample_cells(run.field, grid, held.x, held.y))
            truths.append(held.values)
        return np.concatenate(preds), np.concatenate(truths)

    def held_back_scores() -> dict:
        pred, truth = held_back_pairs(EagerModel(model.to("cpu"), card))
        model.to(device)
        ok = np.isfinite(pred)
        return score(pred[ok], truth[ok])

    def validate() -> float:
        return float(held_back_scores()["RMSE"])

    if not any(len(h) for h in held_days) and options.validation_fraction > 0:
        raise AirmapInputError("No station could be held back for validation: give more stations.")
    before = held_back_scores() if options.validation_fraction > 0 else {}
    validate_fn = validate if options.validation_fraction > 0 else (lambda: 0.0)
    run = train_budget(model, step_loss, validate_fn, options, options.lr or LR,
                       epochs_of(sum(int(g[1].sum()) for g in grids) // 4, BATCH), progress)
    after = held_back_scores() if options.validation_fraction > 0 else {}
    model.cpu()
    protocol = (f"hide {HIDE[0]:.0%}-{HIDE[1]:.0%} of a day's station cells in a {window}-cell window of the working "
                "grid and predict them from the rest (MAE at the hidden cells, deep-supervised heads)")
    dates = [d.get("date") for d in days if d.get("date")]
    data_info = dict(summary or {}, days=len(days), station_sites=int(len(sites)),
                     station_values=int(sum(len(d["pm25"]) for d in days)),
                     held_back=f"{len(held_sites)} of {len(sites)} sites, all their days",
                     working_grid=f"{work.width} x {work.height} cells of {abs(work.res[0]):g} (x{factor})",
                     first_date=min(dates) if dates else None, last_date=max(dates) if dates else None,
                     covariates=[c for c in pc.COVARIATES if cov[c] is not None])
    record = dict(ckpt["record"], validation=None, parameters=sum(p.numel() for p in model.parameters()),
                  training=training_entry(options, ALGORITHM, f"user station network ({len(days)} day(s)), {protocol}",
                                          run, options.lr or LR, device))
    finetuning = lineage(options, ckpt["card"], algorithm=ALGORITHM, protocol=protocol, data=data_info,
                                    run=run, before=before, after=after, device=device,
                                    metric="error at held-back station sites (ug/m3)")
    export_model(model, record, out_path, trained_on=f"fine-tuned on the user's station observations from "
                                                     f"{os.path.basename(options.base_model)}",
                 metrics={"held_back_user_data": {"before": before, "after": after}},
                 extra={"finetuning": finetuning})
    card = checkpoint_from_onnx(out_path)["card"]
    return FinetuneResult(out_path, card, run["curve"], before, after, data_info, run["steps"], run["minutes"])
