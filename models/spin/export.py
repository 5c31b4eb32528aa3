"""Export a SPIN checkpoint to ONNX with its card; check ONNX Runtime against torch; score it
on the held-out months.

    PYTHONPATH=.pkg .venv/bin/python -m airmap.models.spin.export /tmp/spin/spin.pt models/spin/spin.onnx
"""
from __future__ import annotations

import json

import numpy as np

from ...core.timeseries import graphs
from ..export_common import export_graph
from ..series_export import add_held_out_scores, export_checked, export_main, load_checkpoint, series_card
from .net import SPIN

INPUTS = {"value": "(1, N, T) concentration / scale, 0 where not observed",
          "observed": "(1, N, T) 1 where measured",
          "wind": "(1, N, T, 2) u, v in m/s (0 where unknown)",
          "a_diff": "(1, T, N, N) diffusion support (core.timeseries.graphs.diffusion_supports)",
          "a_adv": "(1, T, N, N) advection support (graphs.advection_supports; zeros = diffusion only)"}
AXES = {"value": {1: "nodes", 2: "hours"}, "observed": {1: "nodes", 2: "hours"}, "wind": {1: "nodes", 2: "hours"},
        "a_diff": {1: "hours", 2: "nodes", 3: "senders"}, "a_adv": {1: "hours", 2: "nodes", 3: "senders"},
        "estimate": {1: "nodes", 2: "hours"}}


def check_inputs(ckpt: dict, nodes: int = 13, hours: int = 30, seed: int = 0):
    rng = np.random.default_rng(seed)
    lon = 116.3 + rng.normal(0, 0.2, nodes)
    lat = 39.9 + rng.normal(0, 0.15, nodes)
    observed = rng.random((nodes, hours)) > 0.3
    value = np.where(observed, rng.gamma(2.0, 0.4, (nodes, hours)), 0.0)
    u, v = rng.normal(0, 2, (2, nodes, hours))
    a_diff, a_adv = graphs.spin_supports(lon, lat, observed, u, v, ckpt["graph"]["sigma_km"], ckpt["graph"]["cutoff_km"],
                                         ckpt["graph"].get("advection", True))
    f = np.float32
    return {"value": value[None].astype(f), "observed": observed[None].astype(f),
            "wind": np.stack([u, v], -1)[None].astype(f), "a_diff": a_diff[None], "a_adv": a_adv[None]}


def graph_proto(model, graph: dict):
    """``model`` exported exactly as ``export`` exports it, as an ONNX proto in memory: the twin
    that maps the weights of SPIN files written without a weight map (``onnx_weights``)."""
    import io

    import onnx
    import torch

    check = check_inputs({"graph": graph})
    buffer = io.BytesIO()
    export_graph(model.eval(), tuple(torch.from_numpy(v) for v in check.values()), buffer, list(check), ["estimate"],
                 AXES)
    return onnx.load_from_string(buffer.getvalue())


def export(checkpoint: str, path: str, score: bool = True) -> dict:
    ckpt, model = load_checkpoint(checkpoint, SPIN)
    card = series_card(ckpt, model, "spin", "SPIN (TCN + diffusion and advection graph kernels)", INPUTS)
    export_checked(model, path, card, check_inputs(ckpt), ["estimate"], AXES, weight_map=True)
    if score:
        diffusion_only = card["training"].get("masking", {}).get("advection_share", 1.0) == 0
        held = add_held_out_scores(path, card, ("spin_diffusion",) if diffusion_only else ("spin",))
        print(json.dumps(held, indent=1))
    return card


def main(argv=None):
    export_main(export, __doc__, argv)


if __name__ == "__main__":
    main()
