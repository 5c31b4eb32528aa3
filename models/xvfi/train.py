"""Train XVFI on simulator fields: frames t and t+gap hours -> the hours between.

    PYTHONPATH=/work/main/.pkg OMP_NUM_THREADS=1 /work/main/.venv/bin/python -m \
        airmap.models.xvfi.train --out /tmp/xvfi_run

Frames come at two resolutions (the fine simulator grid and its 3×3 block means, i.e. the
resolution DeepCAMS interpolates at); gaps are mostly 3 h (t = 1/3, 2/3) with some 2–6 h so
any t in (0, 1) is seen, and the order is randomly reversed (t -> 1 − t) as in DeepCAMS.
Loss (XVFI / DeepCAMS): mean over pyramid levels of L1 to the bicubic-downscaled truth,
+ 0.5 × edge-aware first-order smoothness of the level-0 flows. Writes ``<out>/xvfi.pt``
(CPU tensors, also after ``--device cuda``, which trains on a GPU).
"""
from __future__ import annotations

import argparse
import os
from typing import Dict, List

import numpy as np
import torch
import torch.nn.functional as F

from ...core.baselines import linear_in_time
from ...core.deepcams import block_mean
from ...core.normalise import card_entry, fit_normaliser
from ..training_loop import (HELD_OUT_SEED, add_budget_arguments, add_data_arguments, add_init_argument,
                             add_run_arguments, budget_seconds, describe, fit, held_out_scores, load_init,
                             optimiser_budget, report_held_out, reproduce_command, start_stack_run,
                             use_bf16)
from ..torch_device import cpu_state_dict
from .net import XVFI, edge_aware_smoothness, size_multiple

GAPS = (2, 3, 3, 3, 3, 3, 4, 5, 6)   # hours between the two input frames (3 = the ×3 task)
# Affine standardisation (no log): frames blend additively, and linear interpolation in log
# space loses to plain linear interpolation on simulated PM2.5 (2.71 vs 2.42 µg/m³ RMSE).
NORMALISATION = card_entry(log="never")


class FrameSet:
    """Normalised hourly stacks (one normaliser per stack, fitted on the 3-hourly frames a user
    would give the model)."""

    def __init__(self, stacks: List[np.ndarray]):
        self.stacks = [fit_normaliser(hourly[::3], NORMALISATION).forward(hourly) for hourly in stacks]

    def batch(self, rng: np.random.Generator, size: int, crop: int):
        frames, targets, ts = [], [], []
        for _ in range(size):
            s = int(rng.integers(len(self.stacks)))
            z = self.stacks[s]
            gap = int(rng.choice(GAPS))
            i = int(rng.integers(z.shape[0] - gap))
            k = int(rng.integers(1, gap))
            a, b, t = z[i], z[i + gap], k / gap
            mid = z[i + k]
            if rng.random() < 0.5:                       # temporal reversal
                a, b, t = b, a, 1.0 - t
            h, w = a.shape
            r0, c0 = int(rng.integers(h - crop + 1)), int(rng.integers(w - crop + 1))
            stack = np.stack([a, b, mid])[:, r0:r0 + crop, c0:c0 + crop]
            stack = np.rot90(stack, int(rng.integers(4)), axes=(1, 2))
            if rng.random() < 0.5:
                stack = stack[:, :, ::-1]
            frames.append(stack[:2].copy())
            targets.append(stack[2:].copy())
            ts.append([t])
        return (torch.from_numpy(np.stack(frames)), torch.from_numpy(np.stack(targets)),
                torch.tensor(ts, dtype=torch.float32))


def evaluate(model: XVFI, stacks: List[np.ndarray]) -> Dict[str, Dict[str, float]]:
    """Held-out: every 3rd hour in, the two between predicted; XVFI vs linear in time, µg/m³,
    at both training resolutions (on the model's device)."""
    device = next(model.parameters()).device
    ts = torch.tensor([[1 / 3], [2 / 3]], device=device)   # the two in-between hours
    preds, lins, truths = [], [], []
    model.eval()
    with torch.no_grad():
        for hourly in stacks:
            for fields in (hourly, block_mean(hourly)):
                steps = (fields.shape[0] - 1) // 3 * 3 + 1
                fields = fields[:steps]
                kept = fields[::3]
                n = fit_normaliser(kept, NORMALISATION)
                z = n.forward(kept)
                mult = size_multiple(model.scale, model.levels)
                h, w = z.shape[1:]
                ph, pw = (-h) % mult, (-w) % mult
                zp = np.pad(z, ((0, 0), (0, ph), (0, pw)), mode="edge")
                lin = linear_in_time(kept, 3)
                for i in range(kept.shape[0] - 1):
                    pair = torch.from_numpy(np.stack([zp[i], zp[i + 1]]))[None].repeat(2, 1, 1, 1).to(device)
                    out = model(pair, ts)[:, 0, :h, :w].cpu().numpy()
                    preds.append(n.inverse(out))
                    lins.append(lin[3 * i + 1:3 * i + 3])
                    truths.append(fields[3 * i + 1:3 * i + 3])
    model.train()
    return held_out_scores({"xvfi": preds, "linear": lins}, truths)


def parse_args(argv=None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    add_run_arguments(ap)
    ap.add_argument("--crop", type=int, default=64, help="fine-grid crop side (multiple of 32)")
    ap.add_argument("--lr", type=float, default=2e-4)
    ap.add_argument("--nf", type=int, default=32)
    ap.add_argument("--smooth-weight", type=float, default=10.0,
                    help="edge weight w in exp(-w^2 |grad I|^2), for standardised frames")
    add_data_arguments(ap)
    ap.add_argument("--loss", choices=("l1", "l1+mse", "mse"), default="mse")
    add_budget_arguments(ap)
    add_init_argument(ap)
    return ap.parse_args(argv)


def train(args, progress=None) -> dict:
    """Train with the options of ``parse_args`` (any object with those attributes) and return
    the checkpoint dict; ``progress`` (core Progress) gets the share of steps done and may
    cancel between steps. The log goes to ``<args.out>/log.txt``."""
    rng, say, device, train_stacks, val, source = start_stack_run(args)
    fine = FrameSet(train_stacks)
    coarse = FrameSet([block_mean(s) for s in train_stacks])

    config = {"channels": 1, "nf": args.nf, "scale": 4, "levels": 1}
    model = XVFI(**config)
    # Start exactly at linear interpolation (in normalised space): zero flows, reliability and
    # occlusion 0.5, zero residual. Gradients still reach these convs through their inputs.
    for conv in (model.flow_bottom[-1], model.flow_mid[-1], model.flow_refine[-1], model.refine.dec3):
        torch.nn.init.zeros_(conv.weight)
        torch.nn.init.zeros_(conv.bias)
    if getattr(args, "init", None):
        load_init(model, args.init, config)
    model.to(device)
    mult = size_multiple(4, 1)
    coarse_crop = min(s.shape[1] for s in coarse.stacks) // mult * mult
    describe(model, config, say)

    done = [0]   # steps run (fewer than --steps when --minutes stops the loop)

    def step_loss(step: int) -> torch.Tensor:
        done[0] = step
        use_coarse = coarse_crop >= mult and step % 3 == 0      # one batch in three at coarse resolution
        src, crop = (coarse, coarse_crop) if use_coarse else (fine, args.crop)
        frames, target, t = (x.to(device) for x in src.batch(rng, args.batch, crop))
        outs, flows = model.forward_train(frames, t)
        rec = 0.0
        for level, out in enumerate(outs):
            scale = 2 ** (0 if level == 0 else model.levels)
            truth = target if scale == 1 else F.interpolate(target, scale_factor=1 / scale, mode="bicubic",
                                                              align_corners=False)
            # L1 on standardised frames = the paper's L1 on concentrations / each scenario's std;
            # "l1+mse" adds the squared error, which RMSE (the benchmark's target) is made of
            err = out - truth
            rec = rec + {"l1": lambda e: torch.mean(torch.abs(e)),
                         "l1+mse": lambda e: torch.mean(torch.abs(e)) + torch.mean(e * e),
                         "mse": lambda e: torch.mean(e * e)}[args.loss](err)
        rec = rec / len(outs)
        small = F.interpolate(target, scale_factor=1 / model.scale, mode="bicubic", align_corners=False)
        return rec + 0.5 * edge_aware_smoothness(flows[0], small, args.smooth_weight)

    minutes = fit(model, step_loss, args.steps, args.lr, say, budget_s=budget_seconds(args),
                  bf16=use_bf16(getattr(args, "bf16", False), device, say), progress=progress)
    metrics = evaluate(model, val)
    report_held_out(metrics, say)
    record = {
        "data": f"{args.scenarios} {source} scenarios ({args.size}x{args.size} cells and their 3x3 block means, "
                f"{args.days} days hourly, seed {args.seed}); gaps {sorted(set(GAPS))} h; held-out: "
                f"{args.val_scenarios} scenarios seed {HELD_OUT_SEED + args.seed}",
        "seed": args.seed,
        "command": reproduce_command("airmap.models.xvfi.train", args),
        "budget": f"{done[0]} steps x batch {args.batch} ({args.crop}^2 fine crops, every 3rd batch "
                  f"{coarse_crop}^2 coarse), " + optimiser_budget(args.lr, minutes, device),
        "loss": f"mean over levels of {args.loss} (standardised frames) + 0.5 x edge-aware flow smoothness",
    }
    return {"state_dict": cpu_state_dict(model), "config": config, "training": record, "metrics": metrics,
            "normalisation": NORMALISATION}


def main(argv=None):
    args = parse_args(argv)
    torch.save(train(args), os.path.join(args.out, "xvfi.pt"))
    print(f"saved {args.out}/xvfi.pt", flush=True)


if __name__ == "__main__":
    main()
