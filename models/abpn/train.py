"""Train ABPN ×3 on simulator fields: hourly fine PM2.5 -> 3×3 block-mean coarse -> fine.

    PYTHONPATH=/work/main/.pkg OMP_NUM_THREADS=1 /work/main/.venv/bin/python -m \
        airmap.models.abpn.train --out /tmp/abpn_run

Writes ``<out>/abpn.pt`` (state dict + config + the run record) and ``<out>/log.txt``; then
``export.py`` turns it into the shipped ``abpn.onnx`` with its card. Deterministic for a given
seed and step count (one torch thread). ``--device cuda`` trains on a GPU (batches are drawn
in numpy on the CPU and moved; the checkpoint holds CPU tensors).
"""
from __future__ import annotations

import argparse
import os
from typing import Dict, List

import numpy as np
import torch

from ...core.baselines import bicubic as bicubic_baseline
from ...core.deepcams import sr_pairs
from ...core.normalise import card_entry, fit_normaliser
from ..training_loop import (HELD_OUT_SEED, add_budget_arguments, add_data_arguments, add_init_argument,
                             add_run_arguments, budget_seconds, describe, fit, held_out_scores, load_init,
                             optimiser_budget, report_held_out, reproduce_command, start_stack_run,
                             use_bf16)
from ..torch_device import cpu_state_dict
from .net import ABPN

SCALE = 3
NORMALISATION = card_entry()   # log standardisation for non-negative fields (core/normalise.py)


def augmented_crop(coarse: np.ndarray, fine: np.ndarray, rng: np.random.Generator, patch: int, rows: int):
    """A random ``patch``² crop of a coarse band from its first ``rows`` rows and the matching
    3× fine crop, under the same random rot90 and flip (draw order: row, column, turn, flip)."""
    w = coarse.shape[1]
    r0, c0 = int(rng.integers(rows - patch + 1)), int(rng.integers(w - patch + 1))
    x = coarse[r0:r0 + patch, c0:c0 + patch]
    y = fine[SCALE * r0:SCALE * (r0 + patch), SCALE * c0:SCALE * (c0 + patch)]
    k = int(rng.integers(4))
    x, y = np.rot90(x, k), np.rot90(y, k)
    if rng.random() < 0.5:
        x, y = x[:, ::-1], y[:, ::-1]
    return x.copy(), y.copy()


class PairSet:
    """Normalised (coarse, fine) frames of many scenarios, with the per-scenario normaliser
    parameters so the loss can be computed in physical units."""

    def __init__(self, stacks: List[np.ndarray]):
        self.coarse, self.fine, self.norm = [], [], []
        for hourly in stacks:
            coarse, fine = sr_pairs(hourly, SCALE)
            n = fit_normaliser(coarse, NORMALISATION)   # the model's input stack, as at inference
            if not n.log:
                raise ValueError("training fields must be non-negative concentrations")
            self.coarse.append(n.forward(coarse))
            self.fine.append(n.forward(fine))
            self.norm.append(n)

    def batch(self, rng: np.random.Generator, size: int, patch: int):
        xs, ys, params = [], [], []
        for _ in range(size):
            s = int(rng.integers(len(self.coarse)))
            zc, zf, n = self.coarse[s], self.fine[s], self.norm[s]
            t = int(rng.integers(zc.shape[0]))
            x, y = augmented_crop(zc[t], zf[t], rng, patch, zc.shape[1])
            xs.append(x)
            ys.append(y)
            params.append((n.mu, n.sigma, n.offset, float(np.exp(n.mu))))
        p = torch.tensor(params, dtype=torch.float32)[:, :, None, None, None]
        return (torch.from_numpy(np.stack(xs))[:, None], torch.from_numpy(np.stack(ys))[:, None], p)


def physical_l1(pred: torch.Tensor, target: torch.Tensor, params: torch.Tensor) -> torch.Tensor:
    """The paper's L1 on concentrations (it used ÷800 units), made scale-free by dividing by
    each scenario's geometric-mean level: mean |x̂ − x| / exp(mu) with x = exp(z·sigma + mu) − c."""
    sigma = params[:, 1]
    # x / exp(mu) = exp(z * sigma) - c / exp(mu): the offset cancels in the difference
    return torch.mean(torch.abs(torch.exp(pred * sigma) - torch.exp(target * sigma)))


def evaluate(model: ABPN, stacks: List[np.ndarray]) -> Dict[str, Dict[str, float]]:
    """Held-out RMSE/MAE/R in µg/m³: ABPN vs the shipped bicubic baseline (on the model's
    device)."""
    device = next(model.parameters()).device
    preds, bics, truths = [], [], []
    model.eval()
    with torch.no_grad():
        for hourly in stacks:
            coarse, fine = sr_pairs(hourly, SCALE)
            n = fit_normaliser(coarse, NORMALISATION)
            z = torch.from_numpy(n.forward(coarse))[:, None].to(device)
            preds.append(n.inverse(model(z)[:, 0].cpu().numpy()))
            bics.append(bicubic_baseline(coarse, SCALE))
            truths.append(fine)
    model.train()
    return held_out_scores({"abpn": preds, "bicubic": bics}, truths)


def parse_args(argv=None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    add_run_arguments(ap)
    ap.add_argument("--patch", type=int, default=16, help="coarse cells per training crop side")
    ap.add_argument("--lr", type=float, default=2e-4)
    ap.add_argument("--n-up", type=int, default=4)
    ap.add_argument("--dim", type=int, default=32)
    add_data_arguments(ap)
    ap.add_argument("--loss", choices=("physical", "z"), default="physical")
    add_budget_arguments(ap)
    add_init_argument(ap)
    return ap.parse_args(argv)


def train(args, progress=None) -> dict:
    """Train with the options of ``parse_args`` (any object with those attributes) and return
    the checkpoint dict; ``progress`` (core Progress) gets the share of steps done and may
    cancel between steps. The log goes to ``<args.out>/log.txt``."""
    rng, say, device, train_stacks, val, source = start_stack_run(args)
    data = PairSet(train_stacks)

    config = {"channels": 1, "dim": args.dim, "n_up": args.n_up, "kernel": 5, "stride": 3, "padding": 1}
    model = ABPN(**config)
    # Start exactly at bicubic (log space): zero the two convs that emit residuals.
    for conv in (model.to_residual, model.refine_out):
        torch.nn.init.zeros_(conv.weight)
    if getattr(args, "init", None):
        load_init(model, args.init, config)
    model.to(device)
    describe(model, config, say)

    done = [0]   # steps run (fewer than --steps when --minutes stops the loop)

    def step_loss(step: int) -> torch.Tensor:
        done[0] = step
        x, y, p = (t.to(device) for t in data.batch(rng, args.batch, args.patch))
        pred = model(x)
        return physical_l1(pred, y, p) if args.loss == "physical" else torch.mean(torch.abs(pred - y))

    minutes = fit(model, step_loss, args.steps, args.lr, say, budget_s=budget_seconds(args),
                  bf16=use_bf16(getattr(args, "bf16", False), device, say), progress=progress)
    metrics = evaluate(model, val)
    report_held_out(metrics, say)
    record = {
        "data": f"{args.scenarios} {source} scenarios ({args.size}x{args.size} cells, {args.days} days hourly, "
                f"seed {args.seed}); coarse = 3x3 block means; held-out: {args.val_scenarios} scenarios seed "
                f"{HELD_OUT_SEED + args.seed}",
        "seed": args.seed,
        "command": reproduce_command("airmap.models.abpn.train", args),
        "budget": f"{done[0]} steps x batch {args.batch} x {args.patch}^2 coarse crops, "
                  + optimiser_budget(args.lr, minutes, device),
        "loss": args.loss,
    }
    return {"state_dict": cpu_state_dict(model), "config": config, "training": record,
            "metrics": metrics, "normalisation": NORMALISATION}


def main(argv=None):
    args = parse_args(argv)
    torch.save(train(args), os.path.join(args.out, "abpn.pt"))
    print(f"saved {args.out}/abpn.pt", flush=True)


if __name__ == "__main__":
    main()
