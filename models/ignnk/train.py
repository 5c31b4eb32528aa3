"""Train IGNNK on the Beijing training months: random subgraphs, random nodes masked, the
whole window reconstructed (MSE over every node of the subgraph, as the paper).

    PYTHONPATH=.pkg OMP_NUM_THREADS=1 .venv/bin/python -m airmap.models.ignnk.train --out /tmp/ignnk --steps 3000

Writes ``<out>/ignnk.pt``; ``export.py`` makes the ONNX file.
"""
from __future__ import annotations

import argparse

import numpy as np
import torch

from ...core.timeseries import graphs
from ...core.timeseries.normalise import window_divisor
from .. import node_masking
from ..training_loop import add_run_arguments, describe, fit, start_run
from .export import export
from .net import IGNNK

SIGMA_SCALE = 1.0  # kernel width = this x the standard deviation of the station distances (IGNNK's choice)


def batch(data, rng, window: int, size: int, normalisation: dict):
    """Tensors of one batch: masked input, support, truth and where truth exists (normalised)."""
    n = node_masking.subgraph_size(data, rng)
    parts = []
    for _ in range(size):
        pick, _, truth, inp, hidden, _ = node_masking.sample(data, rng, window, n)
        lon, lat = data.lon[pick], data.lat[pick]
        sigma = graphs.ignnk_sigma(lon, lat, ~hidden) * SIGMA_SCALE
        a = graphs.ignnk_support(lon, lat, np.isfinite(inp).any(axis=1), sigma)
        scale = window_divisor(normalisation, inp)  # the paper: a fixed divisor ("scale")
        parts.append((np.nan_to_num(inp) / scale, a, truth / scale))
    return [torch.from_numpy(np.stack(p).astype(np.float32)) for p in zip(*parts)]


def train(args: argparse.Namespace) -> str:
    rng, say, _ = start_run(args.out, args.seed)
    data = node_masking.training_data(until=args.until, exclude_share=args.exclude_share,
                                      all_months=args.all_months)
    normalisation = node_masking.normalisation_card(args.norm)
    say(data.describe())
    config = {"window": args.window, "hidden": args.hidden}
    model = IGNNK(**config)
    describe(model, config, say)

    def step_loss(step):
        x, a, truth = batch(data, rng, args.window, args.batch, normalisation)
        known = torch.isfinite(truth).float()
        err = (model(x, a) - torch.nan_to_num(truth)) ** 2 * known
        return err.sum() / known.sum().clamp_min(1.0)

    minutes = fit(model, step_loss, args.steps, args.lr, say)
    return node_masking.save_run(
        args, say, "airmap.models.ignnk.train", "ignnk", model, config, data, minutes,
        {"masking": node_masking.masking_record(data),
         "loss": "MSE of the reconstruction over every measured node-hour of the subgraph"},
        {"sigma_scale": SIGMA_SCALE, "sigma": "std of the station distances (km) x sigma_scale"},
        normalisation, (export, "ignnk"))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__)
    add_run_arguments(ap)
    node_masking.add_series_arguments(ap, lr=1e-3, window=24, norm="window_mean")
    ap.add_argument("--hidden", type=int, default=100)
    train(ap.parse_args(argv))


if __name__ == "__main__":
    main()
