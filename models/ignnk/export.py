"""Export an IGNNK checkpoint to ONNX with its card; check ONNX Runtime against torch; score it
on the held-out months.

    PYTHONPATH=.pkg .venv/bin/python -m airmap.models.ignnk.export /tmp/ignnk/ignnk.pt models/ignnk/ignnk.onnx
"""
from __future__ import annotations

import json

import numpy as np

from ...core.timeseries import graphs
from ..series_export import add_held_out_scores, export_checked, export_main, load_checkpoint, series_card
from .net import IGNNK

INPUTS = {"x": "(1, N, window) concentration / scale, 0 where unknown",
          "a": "(1, N, N) random-walk support (core.timeseries.graphs.ignnk_support)"}


def check_inputs(ckpt: dict, nodes: int = 13, seed: int = 0):
    rng = np.random.default_rng(seed)
    window = ckpt["config"]["window"]
    lon = 116.3 + rng.normal(0, 0.2, nodes)
    lat = 39.9 + rng.normal(0, 0.15, nodes)
    senders = rng.random(nodes) > 0.3
    x = np.where(senders[:, None], rng.gamma(2.0, 0.4, (nodes, window)), 0.0)
    a = graphs.ignnk_support(lon, lat, senders, graphs.ignnk_sigma(lon, lat, senders))
    return {"x": x[None].astype(np.float32), "a": a[None]}


def export(checkpoint: str, path: str, score: bool = True) -> dict:
    ckpt, model = load_checkpoint(checkpoint, IGNNK)
    card = series_card(ckpt, model, "ignnk", "IGNNK (inductive graph neural network kriging)", INPUTS)
    axes = {"x": {1: "nodes"}, "a": {1: "nodes", 2: "senders"}, "estimate": {1: "nodes"}}
    export_checked(model, path, card, check_inputs(ckpt), ["estimate"], axes)
    if score:
        print(json.dumps(add_held_out_scores(path, card), indent=1))
    return card


def main(argv=None):
    export_main(export, __doc__, argv)


if __name__ == "__main__":
    main()
