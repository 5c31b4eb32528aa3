"""Train PointConv-UNet++ on simulated daily PM2.5 fields with random pseudo-stations.

    PYTHONPATH=/work/main/.pkg OMP_NUM_THREADS=1 /work/main/.venv/bin/python -m \
        airmap.models.pointconv.train --variant pm25 --minutes 20 --out /tmp/pointconv_pm25.pt

Never trained on observations (as in the paper): the target is the simulated field itself.
Writes a checkpoint with weights (CPU tensors, also after ``--device cuda``, which trains on a
GPU), config and the training record that export.py puts in the card.
"""
from __future__ import annotations

import argparse
import json
import math
import sys
import time

import numpy as np
import torch

from ...core import metrics
from ...core import pointconv as pc
from . import data
from ..torch_device import add_device_argument, cpu_state_dict, device_label, resolve_device, seed_device
from .net import REFERENCE_FILTERS, PointConvUNetPP, count_parameters
from .export import SOURCES, trained_on
from .weights import load_checkpoint

HEAD_WEIGHTS = (0.1, 0.2, 0.3, 0.4)  # deep supervision: the deepest head counts most


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--variant", choices=sorted(pc.VARIANT_VARIABLES), default="pm25")
    p.add_argument("--source", choices=("simulator", "random", "rasters"), default="simulator",
                   help="simulator: the shipped data; rasters: your own daily fields (fine-tuning)")
    p.add_argument("--pm25-raster", help="rasters: daily-mean PM2.5, one band per day (GeoTIFF/NetCDF)")
    p.add_argument("--pm25-variable", default=None, help="rasters: NetCDF variable of --pm25-raster")
    p.add_argument("--rh-raster", help="rasters: daily-mean relative humidity, same bands (met variant)")
    p.add_argument("--wind-raster", help="rasters: daily-mean wind speed, same bands (met variant)")
    p.add_argument("--dem-raster", help="rasters: elevation in m (optional)")
    p.add_argument("--urban-raster", help="rasters: urban fraction 0-1 (optional)")
    p.add_argument("--val-share", type=float, default=0.1, help="rasters: share of the days held out (the last ones)")
    p.add_argument("--days", type=int, default=160, help="training days (2 per simulator scenario)")
    p.add_argument("--val-days", type=int, default=12)
    p.add_argument("--size", type=int, default=96, help="simulator grid size in cells")
    p.add_argument("--width-div", type=int, default=4, help="UNet++ filters = reference / this")
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--station-noise", type=float, default=0.0,  # shipped: data.STATION_NOISE_MAX
                   help="max relative error of pseudo-station values (level drawn per sample; 0 = exact)")
    p.add_argument("--crop", type=int, default=None, help="train on random crops of this many cells (multiple of 16)")
    p.add_argument("--steps", type=int, default=3000, help="upper bound of optimiser steps")
    p.add_argument("--minutes", type=float, default=20.0, help="wall-clock budget of the training loop")
    p.add_argument("--lr", type=float, default=2e-3)
    p.add_argument("--seed", type=int, default=4, help="seed of weights and pseudo-station draws")
    p.add_argument("--data-seed", type=int, default=4, help="simulator seed of the training days (validation: +10000)")
    p.add_argument("--threads", type=int, default=1)
    add_device_argument(p)
    p.add_argument("--cache-dir", default="/tmp/airmap_sim_cache")
    p.add_argument("--init", default=None, help="checkpoint (.pt) or exported model (.onnx, e.g. the shipped one) to start from")
    p.add_argument("--warm-start", default=None,
                   help="met variant: start from a pm25 checkpoint (RH/wind inputs start with zero weight)")
    p.add_argument("--out", required=True)
    p.add_argument("--bf16", action="store_true", help="bfloat16 autocast on CUDA (ignored on the CPU)")
    return p.parse_args(argv)


def load_days(args, count, seed):
    if args.source == "rasters":
        if not args.pm25_raster:
            raise SystemExit("--source rasters needs --pm25-raster")
        days = data.raster_days(args.pm25_raster, args.rh_raster, args.wind_raster, args.dem_raster,
                                args.urban_raster, args.pm25_variable)
        n_val = max(1, int(round(len(days) * args.val_share)))
        return days[:-n_val] if seed == args.data_seed else days[-n_val:]
    if args.source == "random":
        return data.smooth_random_days(count, args.size, seed)
    return data.simulator_days(count, args.size, seed, cache_dir=args.cache_dir)


def evaluate(model, days, variant, seed, n_paper=800):
    """R2/RMSE/NME (µg/m³) reproducing held-out days from ~n_paper-equivalent random stations
    (stations drawn in numpy, the model run on its own device)."""
    device = next(model.parameters()).device
    rng = np.random.default_rng(seed)
    model.eval()
    preds, truths = [], []
    with torch.no_grad():
        for day in days:
            n = max(3, round(n_paper * day.pm25.size / data.PAPER_CELLS))
            x, _, scale = data.sample_inputs(day, variant, rng, n=n, covariate_keep=1.0)
            out = model(torch.from_numpy(x[None]).to(device))[0, 0].cpu().numpy()
            preds.append(out * scale)
            truths.append(day.pm25)
    model.train()
    return metrics.score(np.stack(preds), np.stack(truths))


def warm_start_from_pm25(model: PointConvUNetPP, pm25_state: dict) -> None:
    """Copy a PM2.5-only model into a model with more station variables so that it starts as
    exactly that model: shared weights copied, the extra variables' UNet++ input weights zero.

    UNet++ input order: fields (V), confidences (V), PM2.5 grid + mask (2), covariates (4)."""
    v = model.variables
    own = model.state_dict()
    index = [0, v] + list(range(2 * v, 2 * v + 2 + 2 * model.covariates))  # pm25 channels in the wider input
    for name, value in pm25_state.items():
        target = own[name]
        if name in ("pointconv.raw1", "pointconv.raw2"):
            target[0] = value[0]
        elif name == "unet.nodes.0_0.0.weight":
            target.zero_()
            target[:, index] = value
        else:
            target.copy_(value)
    model.load_state_dict(own)


def train(args, progress=None, argv=None):
    """Train (or, with ``args.init``, continue training) and return the checkpoint dict
    {'state_dict', 'record'}. ``args``: the options of ``parse_args`` (any object with those
    attributes); ``progress``: a core Progress (fraction of the budget, cancel between steps);
    ``argv``: the command line to record (default: this process's)."""
    from ...core.progress import ensure

    progress = ensure(progress)
    device = resolve_device(args.device)
    args.device = device.type   # the record names the device really used ('auto' resolved)
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    seed_device(args.seed, device)
    rng = np.random.default_rng(args.seed)
    t0 = time.time()
    train_days = load_days(args, args.days, args.data_seed)
    val_days = load_days(args, args.val_days, args.data_seed + 10_000)
    print(f"data: {len(train_days)} train / {len(val_days)} val days of {args.size}^2 cells "
          f"({time.time() - t0:.0f} s)", flush=True)

    start_ckpt = load_checkpoint(args.init) if args.init else None
    warm = load_checkpoint(args.warm_start) if args.warm_start else None
    source = start_ckpt or warm
    # a starting model fixes the width; its variant must match (a warm start feeds pm25 -> met)
    filters = source["record"]["filters"] if source else [c // args.width_div for c in REFERENCE_FILTERS]
    if start_ckpt and start_ckpt["record"]["variant"] != args.variant:
        raise SystemExit(f"--init is a '{start_ckpt['record']['variant']}' model, not --variant {args.variant}")
    if warm and (warm["record"]["variant"] != "pm25" or args.variant != "met"):
        raise SystemExit("--warm-start takes a pm25 model and trains --variant met")
    variables = len(pc.VARIANT_VARIABLES[args.variant])
    model = PointConvUNetPP(variables, len(pc.COVARIATES), filters)
    previous = None
    if start_ckpt:
        model.load_state_dict(start_ckpt["state_dict"])
        previous = start_ckpt["record"]["training"]
    elif warm:
        warm_start_from_pm25(model, warm["state_dict"])
        previous = warm["record"]["training"]
    model.to(device)  # after loading: starting weights are CPU tensors
    opt = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=1e-4)
    print(f"model: filters {filters}, {count_parameters(model)} parameters"
          + ("" if device.type == "cpu" else f", on {device_label(device)}"), flush=True)

    bf16 = args.bf16 and device.type == "cuda"   # autocast on CUDA only; validation runs in float32
    if args.bf16 and not bf16:
        print("--bf16 ignored: bfloat16 autocast is used on CUDA only", flush=True)
    stream = data.batches(train_days, args.variant, args.batch, rng, args.crop, args.station_noise)
    budget = args.minutes * 60
    start = time.time()
    step, running = 0, None
    while step < args.steps and time.time() - start < budget:
        progress.check()
        # cosine decay over the wall-clock budget (or the step cap, whichever ends first)
        frac = max(step / args.steps, (time.time() - start) / budget)
        for g in opt.param_groups:
            g["lr"] = args.lr * 0.5 * (1 + math.cos(math.pi * min(frac, 1.0)))
        x, y = next(stream)
        x, y = torch.from_numpy(x).to(device), torch.from_numpy(y).to(device)
        with torch.autocast("cuda", dtype=torch.bfloat16, enabled=bf16):
            outs = model(x)
        valid = torch.isfinite(y)  # user rasters may have no-data cells (e.g. sea)
        loss = sum(w * (o.float()[valid] - y[valid]).abs().mean() for w, o in zip(HEAD_WEIGHTS, outs))
        opt.zero_grad()
        loss.backward()
        opt.step()
        step += 1
        running = loss.item() if running is None else 0.98 * running + 0.02 * loss.item()
        progress.set(max(step / args.steps, (time.time() - start) / budget))
        if step % 100 == 0:
            print(f"step {step} loss {running:.4f} lr {opt.param_groups[0]['lr']:.2e} "
                  f"{time.time() - start:.0f} s", flush=True)
    elapsed = time.time() - start
    val = evaluate(model, val_days, args.variant, args.seed + 1)
    print("validation (held-out days, ~800-station density):", json.dumps(val), flush=True)
    stage = {"command": "PYTHONPATH=.pkg OMP_NUM_THREADS=1 .venv/bin/python -m airmap.models.pointconv.train "
                        + " ".join(sys.argv[1:] if argv is None else argv),
             "budget": ("met model warm-started from the pm25 model above, " if args.warm_start else "")
                       + f"{step} steps x batch {args.batch}"
                       + (f" on {args.crop}x{args.crop} crops" if args.crop else "")
                       + (f", station noise up to {args.station_noise:.0%}" if args.station_noise else "")
                       + f", {elapsed / 60:.1f} min on "
                       + (f"{args.threads} CPU thread(s)" if device.type == "cpu" else device_label(device))
                       + (", bf16 autocast" if bf16 else ""),
             "validation_R2": round(val["R2"], 4)}
    stages = (previous.get("stages") or [{"command": previous["command"], "budget": previous["budget"]}]
              if previous else []) + [stage]
    record = {
        "variant": args.variant, "filters": filters, "k1": 21, "k2": 11,
        "parameters": count_parameters(model),
        "training": {
            "data": (f"{len(train_days)} simulated days ({args.source}, {args.size}x{args.size} cells of "
                     f"{data.CELL_M / 1000:g} km), pseudo-stations drawn afresh for every sample"),
            "seed": args.seed,
            "command": " && ".join(st["command"] for st in stages),
            "budget": "; then ".join(st["budget"] for st in stages),
            "stages": stages,
        },
        "validation": val,
        "args": vars(args),
        "trained_on": SOURCES[args.source] if not source or trained_on(source["record"]) == SOURCES[args.source]
        else f"{trained_on(source['record'])}; then {SOURCES[args.source]}",
    }
    return {"state_dict": cpu_state_dict(model), "record": record}


def main(argv=None):
    args = parse_args(argv)
    torch.save(train(args, argv=argv), args.out)
    print(f"saved {args.out}", flush=True)


if __name__ == "__main__":
    main()
