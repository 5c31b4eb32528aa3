"""XVFI fine-tuning on the user's own time stack (airmap:finetunexvfi), self-supervised.

Keep every third frame: frames i and i+3 of the user's stack go in, frames i+1 and i+2 (t = 1/3,
2/3) are the targets, so the network learns ×3 at the stack's own interval and is then applied
one level down (e.g. 3-hourly -> hourly after learning 9-hourly -> 3-hourly). With a REFERENCE
stack at 3 × the time resolution the true pairs are used: INPUT frames j and j+1 in,
REFERENCE frames 3j+1 and 3j+2 out.

Held back: the last ``validation_fraction`` of the windows in time; no training window touches a
held-back frame. Scored through the plugin's own path (``core.frame_interp.interpolate_pair``)
with the torch network in place of ONNX Runtime, beside linear interpolation.
"""
from __future__ import annotations

import copy
from typing import Optional

import numpy as np
import torch

from ...core.errors import AirmapInputError
from ...core.frame_interp import FACTOR, interpolate_pair
from ...core.metrics import score
from ...core.nodata import fill_nearest
from ...core.normalise import fit_normaliser
from ...core.progress import Progress
from ..finetune import EagerModel, FinetuneOptions, FinetuneResult, epochs_of, finetuned_card, start, train_budget
from ..onnx_weights import state_dict_from_onnx
from .anchor import LinearAnchored, anchor_weight, linear_error_power_law
from .export import export
from .net import XVFI

ALGORITHM = "finetunexvfi"
ANCHOR_PAIRS = 48     # consecutive pairs of the stack on which the correction's size is measured
LR = 1e-4
BATCH = 4
CROP = 64
TS = (1 / 3, 2 / 3)


def windows(data: np.ndarray, reference: Optional[np.ndarray]):
    """(input frames A, target frames F, [(a, b, [f1, f2])...], protocol text)."""
    data = np.asarray(data, np.float32)
    if data.ndim != 3 or data.shape[0] < 2:
        raise AirmapInputError("XVFI fine-tuning needs a raster whose bands are time steps, and this one has "
                               f"{data.shape[0] if data.ndim == 3 else 1} band: give a stack of consecutive times.")
    t = data.shape[0]
    if reference is None:
        if t < 2 * FACTOR + 1:
            raise AirmapInputError(
                f"Self-supervised XVFI fine-tuning keeps every third of the {t} bands and learns the two between: "
                f"it needs at least {2 * FACTOR + 1} bands (two windows, one of them held back), or a REFERENCE "
                "stack at 3 x the time resolution.")
        return data, data, [(i, i + FACTOR, [i + 1, i + 2]) for i in range(t - FACTOR)], \
            "keep every third frame: frames i, i+3 -> frames i+1, i+2 at the stack's own interval"
    reference = np.asarray(reference, np.float32)
    want = FACTOR * (t - 1) + 1
    if reference.shape != (want,) + data.shape[1:]:
        raise AirmapInputError(f"REFERENCE has {reference.shape[0]} bands of {reference.shape[1]} x "
                               f"{reference.shape[2]}; for INPUT's {t} bands of {data.shape[1]} x {data.shape[2]} it "
                               f"must have {want} bands on the same grid (3 x the time resolution).")
    return data, reference, [(j, j + 1, [FACTOR * j + 1, FACTOR * j + 2]) for j in range(t - 1)], \
        "true pairs: INPUT frames j, j+1 -> REFERENCE frames 3j+1, 3j+2"


def finetune(data: np.ndarray, out_path: str, options: FinetuneOptions, reference: Optional[np.ndarray] = None,
             summary: Optional[dict] = None, progress: Optional[Progress] = None) -> FinetuneResult:
    """Fine-tune the XVFI model ``options.base_model`` on the stack ``data`` (T, H, W)."""
    from ...core.frame_interp import load_xvfi

    device = start(options)
    rng = np.random.default_rng(options.seed)
    base = load_xvfi(options.base_model, device="cpu")
    card = copy.deepcopy(base.card)
    frames, targets, wins, protocol = windows(data, reference)
    n_held = max(1, int(round(len(wins) * options.validation_fraction))) if options.validation_fraction > 0 else 0
    held = wins[len(wins) - n_held:]
    first_held = min((w[0] for w in held), default=frames.shape[0])
    # No training window touches a scored frame: self-supervised windows end before the first
    # held-back window starts; with REFERENCE the held-back window's first INPUT frame may be shared.
    train = [w for w in wins if (w[1] < first_held if reference is None else w[1] <= first_held)]
    if not train:
        raise AirmapInputError("VALIDATION_FRACTION leaves no window to train on: lower it or give more bands.")
    norm = fit_normaliser(frames, card["normalisation"])
    zin = np.stack([fill_nearest(norm.forward(f)) if np.isfinite(f).any() else np.zeros_like(f) for f in frames])
    zt = norm.forward(targets)
    mult = int(card["size_multiple"])
    _, h, w = frames.shape
    ph, pw = max(0, mult - h) + (-max(h, mult)) % mult, max(0, mult - w) + (-max(w, mult)) % mult
    zin = np.pad(zin, ((0, 0), (0, ph), (0, pw)), mode="edge")
    zt = np.pad(zt, ((0, 0), (0, ph), (0, pw)), constant_values=np.nan)   # padding is not scored
    crop_h = min(CROP, zin.shape[1]) // mult * mult
    crop_w = min(CROP, zin.shape[2]) // mult * mult

    model = XVFI(**card["config"])
    state_dict_from_onnx(options.base_model, model)
    model.to(device)

    def step_loss(step: int) -> torch.Tensor:
        xs, ys, ts = [], [], []
        for _ in range(BATCH):
            a, b, between = train[int(rng.integers(len(train)))]
            k = int(rng.integers(len(between)))
            r0 = int(rng.integers(zin.shape[1] - crop_h + 1))
            c0 = int(rng.integers(zin.shape[2] - crop_w + 1))
            stack = np.stack([zin[a], zin[b], zt[between[k]]])[:, r0:r0 + crop_h, c0:c0 + crop_w]
            t = TS[k]
            if rng.random() < 0.5:                    # temporal reversal, as the trainer
                stack, t = stack[[1, 0, 2]], 1.0 - t
            if rng.random() < 0.5:
                stack = stack[:, :, ::-1]
            xs.append(stack[:2].copy())
            ys.append(stack[2:].copy())
            ts.append([t])
        x = torch.from_numpy(np.stack(xs)).to(device)
        y = torch.from_numpy(np.stack(ys)).to(device)
        pred = model(x, torch.tensor(ts, dtype=torch.float32, device=device))
        valid = torch.isfinite(y)
        return ((pred[valid] - y[valid]) ** 2).mean()

    def predictions(net):
        out = []
        for a, b, between in held:
            out.append(norm.inverse(interpolate_pair(zin[a, :h, :w], zin[b, :h, :w], TS, net)))
        return np.stack(out)

    truth = np.stack([targets[between] for _, _, between in held])
    linear = np.stack([np.stack([(1 - t) * frames[a] + t * frames[b] for t in TS]) for a, b, _ in held])
    ok = np.isfinite(truth) & np.isfinite(linear)

    def held_back_scores() -> dict:
        net = EagerModel(model.to("cpu"), card)
        pred = predictions(net)
        model.to(device)
        return score(pred[ok], truth[ok])

    def validate() -> float:
        return float(held_back_scores()["RMSE"])

    before = held_back_scores()
    run = train_budget(model, step_loss, validate, options, options.lr or LR, epochs_of(2 * len(train), BATCH),
                       progress)
    model.cpu()
    anchor = _anchor(model, card, zin[:, :h, :w], zt[:, :h, :w], held, reference is not None)
    written = LinearAnchored(model, anchor["weight"])
    model = written                                  # what held_back_scores() runs from here on
    after = held_back_scores()
    model.cpu()
    data_info = dict(summary or {}, frames=int(frames.shape[0]), cells=[int(h), int(w)], training_windows=len(train),
                     held_back=f"last {len(held)} of {len(wins)} windows ({2 * len(held)} frames scored)",
                     linear_held_back_RMSE=float(score(linear[ok], truth[ok])["RMSE"]))
    card["linear_anchor"] = anchor
    finetuned_card(card, base.card, options, algorithm=ALGORITHM, protocol=protocol + (
                       f"; output = linear + {anchor['weight']:.3g} x (network - linear), the weight by "
                       f"{anchor['rule']}"), what="time stack",
                   data=data_info, run=run, before=before, after=after, device=device,
                   metric="RMSE of the frames between", lr=options.lr or LR)
    export(written, out_path, card)
    return FinetuneResult(out_path, card, run["curve"], before, after, data_info, run["steps"], run["minutes"])


def _anchor(net, card, zin, zt, held, same_level: bool) -> dict:
    """The linear-anchoring weight of the written model (``anchor.py``), from the normalised stack
    ``zin`` (gap-filled), its targets ``zt`` and the held-back windows."""
    eager = EagerModel(net, card)
    up, lin_up, truth_up = [], [], []
    for a, b, between in held:
        up.append(interpolate_pair(zin[a], zin[b], TS, eager))
        lin_up.append(np.stack([(1 - t) * zin[a] + t * zin[b] for t in TS]))
        truth_up.append(zt[between])
    pairs = np.unique(np.linspace(0, zin.shape[0] - 2, min(ANCHOR_PAIRS, zin.shape[0] - 1)).round().astype(int))
    down = np.stack([interpolate_pair(zin[i], zin[i + 1], TS, eager) for i in pairs])
    lin_down = np.stack([np.stack([(1 - t) * zin[i] + t * zin[i + 1] for t in TS]) for i in pairs])
    law = {} if same_level else linear_error_power_law(zin)
    return anchor_weight(np.stack(truth_up), np.stack(lin_up), np.stack(up), lin_down, down, law, TS, same_level)
