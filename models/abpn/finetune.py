"""ABPN fine-tuning on the user's own rasters (airmap:finetuneabpn), self-supervised.

Self-similarity: every band of the user's raster is a fine field; its 3 × 3 block means are
the coarse input. The network learns coarse -> fine one level up (e.g. 2.25° -> 0.75° when the
raster is 0.75°) and is then applied one level down (0.75° -> 0.25°): the spatial structure of a
region's fields repeats across scales far better than the simulator's 5 km structure carries to
a reanalysis. With a REFERENCE raster at 3 × the resolution the true (input, reference) pairs
are used instead.

Held back: the last ``validation_fraction`` of the coarse rows of every band (a strip, so the
scored cells are never inside a training crop). Scored through the plugin's own path
(``core.superres.super_resolve``: normalisation, no-data filling, tiling, block-mean
conservation) with the torch network in place of ONNX Runtime.
"""
from __future__ import annotations

import copy
from typing import Optional

import numpy as np
import torch

from ...core.deepcams import block_mean
from ...core.errors import AirmapInputError
from ...core.metrics import score
from ...core.nodata import fill_nearest
from ...core.normalise import fit_normaliser
from ...core.progress import Progress
from ...core.superres import SCALE, super_resolve
from ...core.baselines import bicubic
from ..finetune import EagerModel, FinetuneOptions, FinetuneResult, epochs_of, finetuned_card, start, train_budget
from ..onnx_weights import state_dict_from_onnx
from .export import export
from .net import ABPN
from .train import augmented_crop

ALGORITHM = "finetuneabpn"
MIN_COARSE = 8        # coarse cells per side at least (one tile of the smallest size)
LR = 1e-4
BATCH = 4
PATCH = 16            # coarse cells per crop side (smaller when the raster is)


def training_pairs(data: np.ndarray, reference: Optional[np.ndarray]):
    """(coarse (B, h, w), fine (B, 3h, 3w), protocol text) from the user's rasters."""
    data = np.asarray(data, np.float32)
    if reference is None:
        coarse = block_mean(data, SCALE)
        fine = data[:, :coarse.shape[1] * SCALE, :coarse.shape[2] * SCALE]
        protocol = ("self-similarity: each band's 3x3 block means -> the band itself (coarse -> fine one "
                    "level up), applied one level down")
        if min(coarse.shape[1:]) < MIN_COARSE:
            raise AirmapInputError(
                f"The raster is {data.shape[1]} x {data.shape[2]} cells: self-similarity fine-tuning averages it "
                f"3 x 3, which leaves fewer than {MIN_COARSE} cells on a side. Use a raster of at least "
                f"{MIN_COARSE * SCALE} x {MIN_COARSE * SCALE} cells (or give a REFERENCE at 3 x the resolution).")
        return coarse, fine, protocol
    reference = np.asarray(reference, np.float32)
    if reference.shape[0] != data.shape[0] or reference.shape[1:] != (data.shape[1] * SCALE, data.shape[2] * SCALE):
        raise AirmapInputError(
            f"REFERENCE is {reference.shape[0]} x {reference.shape[1]} x {reference.shape[2]} (bands x rows x "
            f"columns); with INPUT {data.shape[0]} x {data.shape[1]} x {data.shape[2]} it must be "
            f"{data.shape[0]} x {data.shape[1] * SCALE} x {data.shape[2] * SCALE}: the same bands at 3 x the resolution.")
    if min(data.shape[1:]) < MIN_COARSE:
        raise AirmapInputError(f"INPUT must have at least {MIN_COARSE} cells on a side for fine-tuning, "
                               f"it has {data.shape[1]} x {data.shape[2]}.")
    return data, reference, "true pairs: INPUT -> REFERENCE at 3x the resolution"


def finetune(data: np.ndarray, out_path: str, options: FinetuneOptions, reference: Optional[np.ndarray] = None,
             summary: Optional[dict] = None, progress: Optional[Progress] = None) -> FinetuneResult:
    """Fine-tune the ABPN model ``options.base_model`` on ``data`` (B, H, W) (NaN = no data) and
    write it to ``out_path``."""
    from ...core.superres import load_abpn

    device = start(options)
    rng = np.random.default_rng(options.seed)
    base = load_abpn(options.base_model, device="cpu")
    card = copy.deepcopy(base.card)
    coarse, fine, protocol = training_pairs(data, reference)
    if not np.isfinite(coarse).any():
        raise AirmapInputError("The raster has no valid cells to learn from: choose a band with data.")
    b, h, w = coarse.shape
    cut = h - max(1, int(round(h * options.validation_fraction))) if options.validation_fraction > 0 else h
    if cut < 2:
        raise AirmapInputError("VALIDATION_FRACTION leaves no rows to train on: lower it.")
    norm = fit_normaliser(coarse, card["normalisation"])
    zc = np.stack([fill_nearest(norm.forward(band)) for band in coarse])
    zf = norm.forward(fine)
    patch = max(4, min(PATCH, cut, w))

    model = ABPN(**card["config"])
    state_dict_from_onnx(options.base_model, model)
    model.to(device)

    def step_loss(step: int) -> torch.Tensor:
        xs, ys = [], []
        for _ in range(BATCH):
            k = int(rng.integers(b))
            x, y = augmented_crop(zc[k], zf[k], rng, patch, cut)   # rows below ``cut`` are held back
            xs.append(x)
            ys.append(y)
        x = torch.from_numpy(np.stack(xs))[:, None].to(device)
        y = torch.from_numpy(np.stack(ys))[:, None].to(device)
        pred = model(x)
        valid = torch.isfinite(y)
        if norm.log:   # L1 on concentrations / the field's level, as the trainer's physical loss
            err = torch.exp(pred[valid] * norm.sigma) - torch.exp(y[valid] * norm.sigma)
        else:
            err = pred[valid] - y[valid]
        return err.abs().mean()

    held = (slice(None), slice(cut * SCALE, h * SCALE), slice(None))

    def held_back_scores() -> dict:
        net = EagerModel(model.to("cpu"), card)
        out = super_resolve(coarse, net)
        model.to(device)
        truth = fine[held]
        ok = np.isfinite(truth) & np.isfinite(out[held])
        return score(out[held][ok], truth[ok])

    def validate() -> float:
        return float(held_back_scores()["RMSE"])

    before = held_back_scores()
    run = train_budget(model, step_loss, validate, options, options.lr or LR,
                       epochs_of(b * (cut // patch) * (w // patch), BATCH), progress)
    after = held_back_scores()
    bic = bicubic(np.stack([fill_nearest(band) for band in coarse]), SCALE)[held]
    ok = np.isfinite(fine[held])
    data_info = dict(summary or {}, bands=int(b), coarse_cells=[int(h), int(w)], fine_cells=list(fine.shape[1:]),
                     held_back=f"last {h - cut} of {h} coarse rows of every band",
                     bicubic_held_back_RMSE=float(score(bic[ok], fine[held][ok])["RMSE"]))
    model.cpu()
    finetuned_card(card, base.card, options, algorithm=ALGORITHM, protocol=protocol, what="raster", data=data_info,
                   run=run, before=before, after=after, device=device, metric="RMSE of the x3 output", lr=options.lr or LR)
    export(model, out_path, card)
    return FinetuneResult(out_path, card, run["curve"], before, after, data_info, run["steps"], run["minutes"])
