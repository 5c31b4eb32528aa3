"""Export a trained ABPN checkpoint to the shipped ONNX file with its model card.

    PYTHONPATH=/work/main/.pkg /work/main/.venv/bin/python -m airmap.models.abpn.export \
        --checkpoint /tmp/abpn_run/abpn.pt

ONNX opset 17, dynamic batch/height/width; the export is checked against torch on a random
smooth field before the file is written (``metrics.onnx_vs_torch_max_abs``).
"""
from __future__ import annotations

import argparse
import os
import warnings

import numpy as np
import torch

from ...core.modelcard import SCHEMA, attach_card
from ...core.normalise import card_entry
from .onnx_weights import attach_weight_map
from .net import ABPN, DEEPCAMS_CONFIG, count_parameters

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_OUT = os.path.join(HERE, "abpn.onnx")
OPSET = 17


def smooth_field(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    from scipy.ndimage import gaussian_filter

    return gaussian_filter(rng.standard_normal((h, w)), 3.0, mode="wrap").astype(np.float32) * 4


def export(model: ABPN, path: str, card: dict, check_shape=(1, 1, 40, 52)) -> float:
    """Write ``path`` and return the max |ONNX − torch| on a random smooth field."""
    import onnx
    import onnxruntime as ort

    model.eval()
    example = torch.zeros(1, 1, 24, 24)
    tmp = path + ".tmp"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(model, (example,), tmp, input_names=["coarse"], output_names=["fine"],
                          dynamic_axes={"coarse": {0: "batch", 2: "height", 3: "width"},
                                        "fine": {0: "batch", 2: "height3", 3: "width3"}},
                          opset_version=OPSET, dynamo=False)
    rng = np.random.default_rng(0)
    x = np.stack([smooth_field(rng, *check_shape[2:]) for _ in range(check_shape[0])])[:, None]
    with torch.no_grad():
        ref = model(torch.from_numpy(x)).numpy()
    sess = ort.InferenceSession(tmp, providers=["CPUExecutionProvider"])
    diff = float(np.abs(sess.run(None, {"coarse": x})[0] - ref).max())
    card.setdefault("metrics", {})["onnx_vs_torch_max_abs"] = diff
    proto = onnx.load(tmp)
    attach_card(proto, card)
    attach_weight_map(proto, model.state_dict())   # lets fine-tuning and tests recover torch weights
    onnx.save(proto, path)
    os.remove(tmp)
    return diff


def build_card(ckpt: dict, tile: int, overlap: int, tile_note: str) -> dict:
    config = ckpt["config"]
    model_params = count_parameters(ABPN(**config))
    return {
        "schema": SCHEMA,
        "task": "abpn",
        "name": f"ABPN x3 (DeepCAMS S-SR), n_up={config['n_up']}, dim={config['dim']}",
        "units": "same as the input (trained on PM2.5 in ug/m3; the normalisation is scale-free)",
        "normalisation": ckpt.get("normalisation", card_entry()),
        "training": dict(ckpt["training"]),
        "metrics": {"held_out_simulated": ckpt.get("metrics", {})},
        "scale_space": 3,
        "tile": {"size": tile, "overlap": overlap, "note": tile_note},
        "inputs": {"coarse": "(batch, 1, H, W) normalised field", "fine": "(batch, 1, 3H, 3W) normalised field"},
        "config": config,
        "parameters": model_params,
        "deepcams_config": DEEPCAMS_CONFIG,
        "deepcams_parameters": count_parameters(ABPN(**DEEPCAMS_CONFIG)),
        "trained_on": "the airmap simulator (no pretrained weights of the paper exist)",
    }


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--checkpoint", required=True)
    ap.add_argument("--out", default=DEFAULT_OUT)
    ap.add_argument("--tile", type=int, default=64, help="coarse cells per inference tile side")
    ap.add_argument("--overlap", type=int, default=8)
    ap.add_argument("--tile-note", default="attention memory grows with (tile^2)^2; see README.md")
    args = ap.parse_args(argv)
    ckpt = torch.load(args.checkpoint, map_location="cpu", weights_only=False)
    model = ABPN(**ckpt["config"])
    model.load_state_dict(ckpt["state_dict"])
    card = build_card(ckpt, args.tile, args.overlap, args.tile_note)
    diff = export(model, args.out, card)
    print(f"wrote {args.out} ({os.path.getsize(args.out) / 1e6:.1f} MB), ONNX vs torch max |diff| {diff:.2e}")


if __name__ == "__main__":
    main()
