"""Train the coded (auto-decoder) HF-SDF network on simulated maps and export it to ONNX.

    OMP_NUM_THREADS=1 PYTHONPATH=.pkg .venv/bin/python -m airmap.models.hfsdf.train \
        --minutes 30 --out /tmp/hfsdf_ckpt.pt --onnx models/hfsdf/hfsdf.onnx

Faithful to shapespace/train.py: one latent per map (zeros at start), network and latents
trained jointly with Adam, loss in losses.coded_loss, the cube normalisation of
core/hfsdf/cube.py per map. CPU deviations (README.md): a smaller network and latent, a wall
clock budget instead of 10,000 epochs, batches of 16 maps x 256 points, and the learning
rates halved at 50 % and 75 % of the budget instead of every 500 epochs. ``--device cuda``
trains on a GPU: points are sampled in numpy on the CPU and moved, checkpoints hold CPU
tensors and the ONNX export runs from the CPU.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time

import numpy as np
import torch

from ...core.hfsdf.cube import lift_map
from ..torch_device import add_device_argument, cpu_state_dict, device_label, resolve_device, seed_device
from .data import random_smooth_maps, simulator_maps
from .losses import coded_loss
from .net import ImplicitNet, NetConfig, count_parameters, shipped_config

BOUNDS = (0.0, 0.0, 1.0, 1.0)  # maps are lifted on their own extent; only the cube matters


def build_dataset(sim_seeds, size, random_count, seed, log=print, cache_dir=None):
    t0 = time.time()
    train, held = simulator_maps(sim_seeds, size=size, cache_dir=cache_dir)
    rnd = random_smooth_maps(random_count, size, seed)
    maps = train.maps + rnd.maps
    labels = train.labels + rnd.labels
    points = [lift_map(m, BOUNDS)[0] for m in maps]
    log(f"dataset: {len(train.maps)} simulator maps ({len(sim_seeds)} regions), {len(rnd.maps)} random maps, "
        f"{len(held.maps)} held out; {time.time() - t0:.0f} s")
    return points, labels


def train(points, config: NetConfig, *, minutes: float, max_steps: int, batch: int, n_points: int,
          lr_net: float, lr_latent: float, seed: int, log=print, checkpoint=None, extra=None,
          device: torch.device = torch.device("cpu"), init: str | None = None, progress=None):
    """Train decoder and latents on ``points`` (one (N, 3) array per map) and return
    (net, latents, steps, seconds, loss history). ``init``: start the decoder from an exported
    model (.onnx) or a checkpoint (.pt) of the same ``config``; ``progress`` (core Progress):
    the share of the budget used, and a cancel between steps."""
    from ...core.progress import ensure

    progress = ensure(progress)
    torch.manual_seed(seed)
    seed_device(seed, device)
    rng = np.random.default_rng(seed)
    net = ImplicitNet(config)  # initialised on the CPU generator, then moved
    if init:
        load_decoder_weights(net, init)
    net.to(device)
    latents = torch.zeros(len(points), config.latent_dim, device=device, requires_grad=True)
    opt = torch.optim.Adam([{"params": net.parameters(), "lr": lr_net},
                            {"params": [latents], "lr": lr_latent}])
    budget = minutes * 60.0
    start = time.time()
    step, last_save, history = 0, start, []
    phase = 0
    while step < max_steps:
        elapsed = time.time() - start
        if elapsed > budget:
            break
        progress.check()
        progress.set(max(elapsed / budget, step / max_steps))
        # Halve both learning rates at 50 % and 75 % of the budget.
        want = int(elapsed > 0.5 * budget) + int(elapsed > 0.75 * budget)
        while phase < want:
            for g in opt.param_groups:
                g["lr"] *= 0.5
            phase += 1
        maps = rng.choice(len(points), batch, replace=len(points) < batch)
        surf = np.stack([points[m][rng.choice(len(points[m]), n_points, replace=len(points[m]) < n_points)]
                         for m in maps])
        loss, parts = coded_loss(net, latents[torch.from_numpy(maps).to(device)], surf, rng)
        opt.zero_grad()
        loss.backward()
        opt.step()
        step += 1
        history.append(parts["loss"])
        if step % 100 == 0:
            log(f"step {step} t={elapsed:.0f}s " + " ".join(f"{k}={v:.5f}" for k, v in parts.items())
                + f" mean100={np.mean(history[-100:]):.5f}")
        if checkpoint and time.time() - last_save > 300:
            save(checkpoint, net, latents, extra, step, time.time() - start)
            last_save = time.time()
    return net, latents.detach(), step, time.time() - start, history


def load_decoder_weights(net: ImplicitNet, path: str) -> None:
    """Decoder weights from an exported model (.onnx, models/onnx_weights.py) or a checkpoint."""
    if path.lower().endswith(".onnx"):
        from ..onnx_weights import state_dict_from_onnx

        state_dict_from_onnx(path, net)
    else:
        net.load_state_dict(torch.load(path, map_location="cpu", weights_only=True)["model"])


def save(path, net, latents, extra, step, seconds):
    tmp = path + ".tmp"
    torch.save({"config": net.config.to_dict(), "model": cpu_state_dict(net), "latents": latents.detach().cpu(),
                "extra": dict(extra or {}, steps=step, seconds=seconds)}, tmp)
    os.replace(tmp, path)


def main(argv=None):
    p = argparse.ArgumentParser(description="Train the coded HF-SDF network on simulated maps.")
    p.add_argument("--out", required=True, help="checkpoint path (.pt)")
    p.add_argument("--onnx", help="also export the ONNX model with its card here")
    p.add_argument("--minutes", type=float, default=30.0)
    p.add_argument("--max-steps", type=int, default=10 ** 9)
    p.add_argument("--sim-seeds", type=int, default=12, help="number of simulated regions")
    p.add_argument("--first-sim-seed", type=int, default=1000)
    p.add_argument("--size", type=int, default=240)
    p.add_argument("--random-maps", type=int, default=96)
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--points", type=int, default=256)
    p.add_argument("--width", type=int, default=shipped_config().width)
    p.add_argument("--latent", type=int, default=shipped_config().latent_dim)
    p.add_argument("--depth", type=int, default=shipped_config().depth)
    p.add_argument("--lr-net", type=float, default=5e-3)
    p.add_argument("--lr-latent", type=float, default=1e-3)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=1)
    add_device_argument(p)
    p.add_argument("--cache-dir", default=None, help="keep (and reuse) the simulated regions here")
    p.add_argument("--init", default=None, help="start the decoder from an exported model (.onnx) or checkpoint (.pt)")
    args = p.parse_args(argv)
    device = resolve_device(args.device)
    args.device = device.type   # the record names the device really used ('auto' resolved)
    torch.set_num_threads(args.threads)
    log = lambda m: print(m, flush=True)
    if device.type != "cpu":
        log(f"device: {device_label(device)}")
    seeds = list(range(args.first_sim_seed, args.first_sim_seed + args.sim_seeds))
    points, labels = build_dataset(seeds, args.size, args.random_maps, args.seed, log, args.cache_dir)
    config = NetConfig(latent_dim=args.latent, width=args.width, depth=args.depth)
    command = "python -m airmap.models.hfsdf.train " + " ".join(sys.argv[1:] if argv is None else argv)
    extra = {"labels": labels, "sim_seeds": seeds, "size": args.size, "random_maps": args.random_maps,
             "command": command, "args": vars(args), "device": device_label(device),
             "threads": torch.get_num_threads()}
    net, latents, steps, seconds, history = train(
        points, config, minutes=args.minutes, max_steps=args.max_steps, batch=args.batch,
        n_points=args.points, lr_net=args.lr_net, lr_latent=args.lr_latent, seed=args.seed,
        log=log, checkpoint=args.out, extra=extra, device=device, init=args.init)
    extra["final_loss_mean100"] = float(np.mean(history[-100:]))
    save(args.out, net, latents, extra, steps, seconds)
    log(f"done: {steps} steps in {seconds / 60:.1f} min, {count_parameters(net)} parameters")
    if args.onnx:
        from .card import build_card
        from .export import export_onnx

        net = net.cpu()  # ONNX export always runs from the CPU
        export_onnx(net, args.onnx, build_card(net, extra, steps, seconds))
        log(f"exported {args.onnx}")


if __name__ == "__main__":
    main()
