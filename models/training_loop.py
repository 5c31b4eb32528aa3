"""What the ABPN and XVFI trainers share: run set-up (seeds, device, logging), the simulator
stacks they learn from, the optimiser loop (Adam + cosine decay + gradient clipping) and the
run record's reproduce command.

Each trainer keeps what is its own (data sampling, loss, evaluation, card text); the order of
random draws is the trainers' own too, so a given seed gives the same weights as before this
module existed.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import time
from typing import Callable, Dict, List, Optional, Tuple

import numpy as np
import torch

from ..core.deepcams import hourly_stacks
from ..core.metrics import score
from .torch_device import DEFAULT_DEVICE, add_device_argument, device_label, resolve_device, seed_device

LOG_EVERY = 50        # steps per logged mean loss
CLIP_NORM = 1.0       # max global gradient norm
LR_FLOOR = 0.05       # cosine decay ends at this fraction of the initial learning rate
HELD_OUT_SEED = 10_000  # held-out scenarios use seed + this, a seed no training run uses

Say = Callable[[str], None]


def add_run_arguments(ap: argparse.ArgumentParser) -> None:
    """--out, --seed, --steps, --batch, --device (the trainer adds its own crop/lr options after
    these: argument order is the order of the flags in the recorded reproduce command)."""
    ap.add_argument("--out", required=True)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--steps", type=int, default=1500)
    ap.add_argument("--batch", type=int, default=8)
    add_device_argument(ap)


def add_data_arguments(ap: argparse.ArgumentParser) -> None:
    """The simulator options ``simulated_stacks`` reads."""
    ap.add_argument("--scenarios", type=int, default=24)
    ap.add_argument("--val-scenarios", type=int, default=4)
    ap.add_argument("--size", type=int, default=96)
    ap.add_argument("--days", type=int, default=2)
    ap.add_argument("--cache-dir", default=None)


def start_run(out_dir: str, seed: int, device: str = DEFAULT_DEVICE
              ) -> Tuple[np.random.Generator, Say, torch.device]:
    """One torch thread, seeded torch (CPU and, on a GPU, CUDA) and numpy, ``out_dir``
    created; ``device`` is the --device choice ('cpu' | 'cuda' | 'auto'). Returns the numpy
    generator, ``say(msg)``, which prints and appends to ``<out_dir>/log.txt``, and the
    resolved torch.device. An unavailable device stops the run before anything is written."""
    dev = resolve_device(device)
    torch.set_num_threads(1)
    torch.manual_seed(seed)
    seed_device(seed, dev)
    rng = np.random.default_rng(seed)
    os.makedirs(out_dir, exist_ok=True)
    log = open(os.path.join(out_dir, "log.txt"), "a")

    def say(msg: str) -> None:
        print(msg, flush=True)
        log.write(msg + "\n")
        log.flush()

    if dev.type != "cpu":
        say(f"device: {device_label(dev)}")
    return rng, say, dev


def simulated_stacks(args: argparse.Namespace, say: Say) -> Tuple[List[np.ndarray], List[np.ndarray], str]:
    """Training and held-out hourly PM2.5 stacks (T, H, W) from ``args.scenarios`` /
    ``args.val_scenarios``, ``size``, ``days``, ``seed``, ``cache_dir``; also the data source."""
    t0 = time.time()
    common = dict(size=args.size, days=args.days, cache_dir=args.cache_dir)
    train_src = list(hourly_stacks(args.scenarios, seed=args.seed, **common))
    val_src = list(hourly_stacks(args.val_scenarios, seed=HELD_OUT_SEED + args.seed, **common))
    source = train_src[0][1]
    say(f"data: {len(train_src)} {source} scenarios in {time.time() - t0:.0f} s")
    return [s for s, _ in train_src], [s for s, _ in val_src], source


def start_stack_run(args: argparse.Namespace) -> Tuple[np.random.Generator, Say, torch.device,
                                                        List[np.ndarray], List[np.ndarray], str]:
    """``start_run`` for a trainer on simulated stacks (ABPN, XVFI): ``args.device`` rewritten to
    the device really used ('auto' resolved, for the run record), then ``simulated_stacks``.
    Returns rng, say, device, training stacks, held-out stacks, data source."""
    rng, say, device = start_run(args.out, args.seed, args.device)
    args.device = device.type
    return (rng, say, device) + simulated_stacks(args, say)


def describe(model: torch.nn.Module, config: dict, say: Say) -> None:
    say(f"config {config}, {sum(p.numel() for p in model.parameters())} parameters")


def fit(model: torch.nn.Module, step_loss: Callable[[int], torch.Tensor], steps: int, lr: float,
        say: Say, budget_s: Optional[float] = None, bf16: bool = False, progress=None) -> float:
    """Run ``steps`` optimiser steps on ``step_loss(step)`` (step counts from 1; it draws its
    own batch) and return the minutes taken. Logs the mean loss every ``LOG_EVERY`` steps.

    ``budget_s`` also stops the loop after that many seconds, the cosine decay then following
    whichever of steps and time runs out first; ``bf16`` runs ``step_loss`` under bfloat16
    autocast (CUDA only: the caller passes it for a CUDA model). ``progress`` (a core Progress):
    the share of steps (or of the time budget) done, and a cancel between steps."""
    from ..core.progress import ensure

    progress = ensure(progress)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    timed = budget_s is not None
    sched = None if timed else torch.optim.lr_scheduler.CosineAnnealingLR(opt, steps, eta_min=lr * LR_FLOOR)
    start = time.time()
    running = 0.0
    for step in range(1, steps + 1):
        progress.check()
        if timed:
            frac = min(1.0, max((step - 1) / steps, (time.time() - start) / budget_s))
            if frac >= 1.0:
                break
            for group in opt.param_groups:
                group["lr"] = lr * (LR_FLOOR + (1 - LR_FLOOR) * 0.5 * (1 + math.cos(math.pi * frac)))
        with torch.autocast("cuda", dtype=torch.bfloat16, enabled=bf16):
            loss = step_loss(step)
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), CLIP_NORM)
        opt.step()
        if sched is not None:
            sched.step()
        running += loss.item()
        progress.set(min(1.0, max(step / steps, (time.time() - start) / budget_s)) if timed else step / steps)
        if step % LOG_EVERY == 0:
            say(f"step {step} loss {running / LOG_EVERY:.5f} {time.time() - start:.0f} s")
            running = 0.0
    return (time.time() - start) / 60


def add_budget_arguments(ap: argparse.ArgumentParser) -> None:
    """--minutes (wall-clock cap of the optimiser loop) and --bf16 (autocast on CUDA)."""
    ap.add_argument("--minutes", type=float, default=None,
                    help="also stop after this many minutes of training (cosine decay over the time)")
    ap.add_argument("--bf16", action="store_true", help="bfloat16 autocast on CUDA (ignored on the CPU)")


def budget_seconds(args) -> Optional[float]:
    """``fit``'s ``budget_s`` from --minutes (None also for library callers whose options lack it)."""
    minutes = getattr(args, "minutes", None)
    return None if minutes is None else minutes * 60


def use_bf16(requested: bool, device: torch.device, say: Say) -> bool:
    """bf16 autocast only where it was asked for and the model is on CUDA."""
    if requested and device.type != "cuda":
        say("--bf16 ignored: bfloat16 autocast is used on CUDA only")
    return requested and device.type == "cuda"


def add_init_argument(ap: argparse.ArgumentParser) -> None:
    ap.add_argument("--init", default=None,
                    help="start from these weights: an exported/shipped model (.onnx) or a checkpoint (.pt)")


def load_init(model: torch.nn.Module, path: str, config: dict, state_key: str = "state_dict") -> None:
    """Fill ``model`` (built with ``config``) from an ONNX file (the one reader of every family,
    models/onnx_weights.py) or a trainer's checkpoint; a file of another configuration stops the
    run before any step, naming both."""
    if path.lower().endswith(".onnx"):
        from ..core.onnx_runtime import load_model
        from .onnx_weights import state_dict_from_onnx

        theirs = load_model(path, None, device="cpu").card.get("config")
        if theirs != config:
            raise SystemExit(f"--init {path} has config {theirs}, this run {config}: use the same options")
        state_dict_from_onnx(path, model)
        return
    ckpt = torch.load(path, map_location="cpu", weights_only=True)
    if ckpt.get("config", config) != config:
        raise SystemExit(f"--init {path} has config {ckpt['config']}, this run {config}: use the same options")
    model.load_state_dict(ckpt[state_key])


def report_held_out(metrics: Dict[str, Dict[str, float]], say: Say) -> None:
    say("held-out: " + json.dumps({k: {m: round(v, 4) for m, v in d.items()} for k, d in metrics.items()}))


def optimiser_budget(lr: float, minutes: float, device: torch.device = torch.device("cpu")) -> str:
    """The optimiser/time half of a run record's ``budget``."""
    where = "1 CPU thread" if device.type == "cpu" else device_label(device)
    return f"Adam lr {lr} cosine, {minutes:.1f} min on {where}"


def reproduce_command(module: str, args: argparse.Namespace) -> str:
    """The command line that repeats this run (machine-specific paths left out; the default
    ``--device cpu`` too, so CPU records read as they did before the option existed)."""
    flags = " ".join(f"--{k.replace('_', '-')}" + ("" if v is True else f" {v}") for k, v in vars(args).items()
                     if v is not None and v is not False and k not in ("out", "cache_dir")
                     and not (k == "device" and v == DEFAULT_DEVICE))
    return f"PYTHONPATH=.pkg OMP_NUM_THREADS=1 .venv/bin/python -m {module} {flags} --out <dir>"


def held_out_scores(predictions: Dict[str, List[np.ndarray]], truths: List[np.ndarray]) -> Dict[str, dict]:
    """Metrics of each named list of held-out arrays against the matching truths, all pooled."""
    truth = np.concatenate([a.ravel() for a in truths])
    return {name: score(np.concatenate([a.ravel() for a in arrays]), truth) for name, arrays in predictions.items()}
