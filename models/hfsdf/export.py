"""Export a trained HF-SDF decoder to ONNX with its airmap card.

The graph has three independent branches that share the weights, each fed by its own point
array (pass an empty (0, 3) array for the branches you do not need: ONNX Runtime executes every
node of a graph, so separate inputs are what keeps an unused branch free):

  latent (L,)           the map's code (absent for a single-map network)
  points (N, 3)      -> value (N,)                              marching cubes, scoring
  points_dz (K, 3)   -> value_dz (K,), dfdz (K,)                root finding along the height axis
  points_jac (M, 3)  -> value_jac (M,), dfdz_jac (M,),          latent fitting without torch
                        jac_value (M, L), jac_dfdz (M, L)

Run: PYTHONPATH=.pkg python -m airmap.models.hfsdf.export --checkpoint ckpt.pt --out hfsdf.onnx
"""
from __future__ import annotations

import argparse
import json
import os
import tempfile
from typing import Dict

import torch
from torch import nn

from .net import ImplicitNet, NetConfig

OPSET = 17


class _ExportGraph(nn.Module):
    def __init__(self, net: ImplicitNet):
        super().__init__()
        self.net = net

    def forward(self, latent, points, points_dz, points_jac):
        value = self.net(latent, points)
        value_dz, dfdz = self.net.value_and_dz(latent, points_dz)
        value_jac, dfdz_jac, jac_value, jac_dfdz = self.net.jacobian(latent, points_jac)
        return value, value_dz, dfdz, value_jac, dfdz_jac, jac_value, jac_dfdz


class _ExportGraphSingle(nn.Module):
    """Single-map network: no latent, no Jacobian branch."""

    def __init__(self, net: ImplicitNet):
        super().__init__()
        self.net = net

    def forward(self, points, points_dz):
        value = self.net(None, points)
        value_dz, dfdz = self.net.value_and_dz(None, points_dz)
        return value, value_dz, dfdz


def export_onnx(net: ImplicitNet, path: str, card: Dict) -> str:
    """Write ``net`` to ``path`` (atomically) with ``card`` attached; return the path."""
    import onnx
    from ...core.modelcard import attach_card
    from ..onnx_weights import attach_weight_map

    net = net.float().eval()
    L = net.latent_dim
    pts = torch.rand(5, 3) * 2 - 1
    if L:
        module = _ExportGraph(net)
        args = (torch.zeros(L), pts, pts, pts)
        inputs = ["latent", "points", "points_dz", "points_jac"]
        outputs = ["value", "value_dz", "dfdz", "value_jac", "dfdz_jac", "jac_value", "jac_dfdz"]
        axes = {"points": {0: "n"}, "points_dz": {0: "k"}, "points_jac": {0: "m"},
                "value": {0: "n"}, "value_dz": {0: "k"}, "dfdz": {0: "k"}, "value_jac": {0: "m"},
                "dfdz_jac": {0: "m"}, "jac_value": {0: "m"}, "jac_dfdz": {0: "m"}}
    else:
        module = _ExportGraphSingle(net)
        args = (pts, pts)
        inputs = ["points", "points_dz"]
        outputs = ["value", "value_dz", "dfdz"]
        axes = {"points": {0: "n"}, "points_dz": {0: "k"}, "value": {0: "n"},
                "value_dz": {0: "k"}, "dfdz": {0: "k"}}
    folder = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(suffix=".onnx", dir=folder)
    os.close(fd)
    try:
        with torch.no_grad():
            torch.onnx.export(module, args, tmp, input_names=inputs, output_names=outputs,
                              dynamic_axes=axes, opset_version=OPSET, dynamo=False)
        model = onnx.load(tmp)
        attach_card(model, card)
        attach_weight_map(model, net.state_dict())   # fine-tuning reads the weights back
        onnx.save(model, tmp)
        os.chmod(tmp, 0o644)  # mkstemp creates 0600; a shipped model must be readable
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
    return path


def load_checkpoint(path: str):
    """(net, latents, extra) from a checkpoint written by train.py."""
    state = torch.load(path, map_location="cpu", weights_only=True)
    net = ImplicitNet(NetConfig.from_dict(state["config"]))
    net.load_state_dict(state["model"])
    return net, state.get("latents"), state.get("extra", {})


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--card", help="JSON file with the card (default: built from the checkpoint)")
    parser.add_argument("--no-metrics", action="store_true", help="skip measuring the card's metrics")
    args = parser.parse_args(argv)
    net, _, extra = load_checkpoint(args.checkpoint)
    if args.card:
        with open(args.card) as fh:
            card = json.load(fh)
    else:
        from .card import build_card

        card = build_card(net, extra, extra.get("steps", 0), extra.get("seconds", 0.0))
    export_onnx(net, args.out, card)
    if not args.no_metrics:
        from .evaluate import measure

        card["metrics"] = measure(args.out)
        export_onnx(net, args.out, card)
        print(json.dumps(card["metrics"], indent=1))
    print(f"wrote {args.out} ({os.path.getsize(args.out) / 1e6:.2f} MB)")


if __name__ == "__main__":
    main()
