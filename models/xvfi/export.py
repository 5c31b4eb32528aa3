"""Export a trained XVFI checkpoint to the shipped ONNX file with its model card.

    PYTHONPATH=/work/main/.pkg /work/main/.venv/bin/python -m airmap.models.xvfi.export \
        --checkpoint /tmp/xvfi_run/xvfi.pt

ONNX opset 17 (GridSample and ScatterElements with reduction=add need >= 16), dynamic
batch/height/width; inputs ``frames`` (B, 2, H, W) = [frame at 0 | frame at 1] and ``t`` (B, 1);
H and W multiples of ``size_multiple``. Checked against torch before the file is written.
"""
from __future__ import annotations

import argparse
import os
import warnings

import numpy as np
import torch

from ...core.modelcard import SCHEMA, attach_card
from ...core.normalise import card_entry
from ..abpn.onnx_weights import attach_weight_map
from .net import DEEPCAMS_CONFIG, XVFI, count_parameters, size_multiple

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_OUT = os.path.join(HERE, "xvfi.onnx")
OPSET = 17


def moving_pair(rng: np.random.Generator, h: int, w: int, shift: float = 2.5) -> np.ndarray:
    """Two frames of a smooth field translated by ``shift`` cells (a check input with motion)."""
    from scipy.ndimage import gaussian_filter, shift as nd_shift

    base = gaussian_filter(rng.standard_normal((h, w)), 4.0, mode="wrap") * 8
    return np.stack([base, nd_shift(base, (shift, -shift), order=1, mode="wrap")]).astype(np.float32)


def export(model: XVFI, path: str, card: dict, check_hw=(64, 96)) -> float:
    import onnx
    import onnxruntime as ort

    model.eval()
    m = size_multiple(model.scale, model.levels)
    frames = torch.zeros(1, 2, m * 2, m * 2)
    t = torch.full((1, 1), 0.5)
    tmp = path + ".tmp"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(model, (frames, t), tmp, input_names=["frames", "t"], output_names=["frame_t"],
                          dynamic_axes={"frames": {0: "batch", 2: "height", 3: "width"}, "t": {0: "batch"},
                                        "frame_t": {0: "batch", 2: "height", 3: "width"}},
                          opset_version=OPSET, dynamo=False)
    rng = np.random.default_rng(0)
    pair = moving_pair(rng, *check_hw)
    x = np.stack([pair, pair])
    ts = np.array([[1 / 3], [2 / 3]], dtype=np.float32)
    with torch.no_grad():
        ref = model(torch.from_numpy(x), torch.from_numpy(ts)).numpy()
    sess = ort.InferenceSession(tmp, providers=["CPUExecutionProvider"])
    diff = float(np.abs(sess.run(None, {"frames": x, "t": ts})[0] - ref).max())
    card.setdefault("metrics", {})["onnx_vs_torch_max_abs"] = diff
    proto = onnx.load(tmp)
    attach_card(proto, card)
    attach_weight_map(proto, model.state_dict())   # lets fine-tuning and tests recover torch weights
    onnx.save(proto, path)
    os.remove(tmp)
    return diff


def build_card(ckpt: dict, tile: int, overlap: int) -> dict:
    config = ckpt["config"]
    return {
        "schema": SCHEMA,
        "task": "xvfi",
        "name": f"XVFI (DeepCAMS T-SR), nf={config['nf']}, M={config['scale']}, S={config['levels']}",
        "units": "same as the input (trained on PM2.5 in ug/m3; the normalisation is scale-free)",
        "normalisation": ckpt.get("normalisation", card_entry()),
        "training": dict(ckpt["training"]),
        "metrics": {"held_out_simulated": ckpt.get("metrics", {})},
        "scale_time": 3,
        "size_multiple": size_multiple(config["scale"], config["levels"]),
        "tile": {"size": tile, "overlap": overlap},
        "inputs": {"frames": "(batch, 2, H, W) normalised frames at 0 and 1", "t": "(batch, 1) in (0, 1)",
                   "frame_t": "(batch, 1, H, W) normalised frame at t"},
        "config": config,
        "parameters": count_parameters(XVFI(**config)),
        "deepcams_config": DEEPCAMS_CONFIG,
        "deepcams_parameters": count_parameters(XVFI(**DEEPCAMS_CONFIG)),
        "trained_on": "the airmap simulator (no pretrained weights of the paper exist)",
    }


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--checkpoint", required=True)
    ap.add_argument("--out", default=DEFAULT_OUT)
    ap.add_argument("--tile", type=int, default=256)
    ap.add_argument("--overlap", type=int, default=32)
    args = ap.parse_args(argv)
    ckpt = torch.load(args.checkpoint, map_location="cpu", weights_only=False)
    model = XVFI(**ckpt["config"])
    model.load_state_dict(ckpt["state_dict"])
    diff = export(model, args.out, build_card(ckpt, args.tile, args.overlap))
    print(f"wrote {args.out} ({os.path.getsize(args.out) / 1e6:.1f} MB), ONNX vs torch max |diff| {diff:.2e}")


if __name__ == "__main__":
    main()
