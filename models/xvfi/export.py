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

import numpy as np
import torch

from ..export_common import load_checkpoint, model_card, report_written, write_checked_onnx
from .net import DEEPCAMS_CONFIG, XVFI, size_multiple

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_OUT = os.path.join(HERE, "xvfi.onnx")


def moving_pair(rng: np.random.Generator, h: int, w: int, shift: float = 2.5) -> np.ndarray:
    """Two frames of a smooth field translated by ``shift`` cells (a check input with motion)."""
    from scipy.ndimage import gaussian_filter, shift as nd_shift

    base = gaussian_filter(rng.standard_normal((h, w)), 4.0, mode="wrap") * 8
    return np.stack([base, nd_shift(base, (shift, -shift), order=1, mode="wrap")]).astype(np.float32)


def export(model: XVFI, path: str, card: dict, check_hw=(64, 96)) -> float:
    """Write ``path`` and return the max |ONNX − torch| on a moving smooth field, t = 1/3, 2/3."""
    m = size_multiple(model.scale, model.levels)
    example = (torch.zeros(1, 2, m * 2, m * 2), torch.full((1, 1), 0.5))
    rng = np.random.default_rng(0)
    pair = moving_pair(rng, *check_hw)
    check = {"frames": np.stack([pair, pair]), "t": np.array([[1 / 3], [2 / 3]], dtype=np.float32)}
    return write_checked_onnx(model, path, card, example, output_names=["frame_t"],
                              dynamic_axes={"frames": {0: "batch", 2: "height", 3: "width"}, "t": {0: "batch"},
                                            "frame_t": {0: "batch", 2: "height", 3: "width"}},
                              check=check)


def build_card(ckpt: dict, tile: int, overlap: int) -> dict:
    config = ckpt["config"]
    return model_card(ckpt, task="xvfi", name=f"XVFI (DeepCAMS T-SR), nf={config['nf']}, M={config['scale']}, "
                                               f"S={config['levels']}",
                      net=XVFI, deepcams_config=DEEPCAMS_CONFIG, specific={
                          "scale_time": 3,
                          "size_multiple": size_multiple(config["scale"], config["levels"]),
                          "tile": {"size": tile, "overlap": overlap},
                          "inputs": {"frames": "(batch, 2, H, W) normalised frames at 0 and 1",
                                     "t": "(batch, 1) in (0, 1)",
                                     "frame_t": "(batch, 1, H, W) normalised frame at t"},
                      })


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--checkpoint", required=True)
    ap.add_argument("--out", default=DEFAULT_OUT, help="ONNX file to write (default: the shipped xvfi.onnx)")
    ap.add_argument("--tile", type=int, default=256)
    ap.add_argument("--overlap", type=int, default=32)
    args = ap.parse_args(argv)
    ckpt, model = load_checkpoint(args.checkpoint, XVFI)
    report_written(args.out, export(model, args.out, build_card(ckpt, args.tile, args.overlap)))


if __name__ == "__main__":
    main()
