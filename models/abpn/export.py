"""Export a trained ABPN checkpoint to the shipped ONNX file with its model card.

    PYTHONPATH=/work/main/.pkg /work/main/.venv/bin/python -m airmap.models.abpn.export \
        --checkpoint /tmp/abpn_run/abpn.pt

ONNX opset 17, dynamic batch/height/width; the export is checked against torch on a random
smooth field before the file is written (``metrics.onnx_vs_torch_max_abs``).
"""
from __future__ import annotations

import argparse
import os

import numpy as np
import torch

from ..export_common import load_checkpoint, model_card, report_written, write_checked_onnx
from .net import ABPN, DEEPCAMS_CONFIG

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_OUT = os.path.join(HERE, "abpn.onnx")


def smooth_field(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    from scipy.ndimage import gaussian_filter

    return gaussian_filter(rng.standard_normal((h, w)), 3.0, mode="wrap").astype(np.float32) * 4


def export(model: ABPN, path: str, card: dict, check_shape=(1, 1, 40, 52)) -> float:
    """Write ``path`` and return the max |ONNX − torch| on a random smooth field."""
    rng = np.random.default_rng(0)
    x = np.stack([smooth_field(rng, *check_shape[2:]) for _ in range(check_shape[0])])[:, None]
    return write_checked_onnx(model, path, card, (torch.zeros(1, 1, 24, 24),), output_names=["fine"],
                              dynamic_axes={"coarse": {0: "batch", 2: "height", 3: "width"},
                                            "fine": {0: "batch", 2: "height3", 3: "width3"}},
                              check={"coarse": x})


def build_card(ckpt: dict, tile: int, overlap: int, tile_note: str) -> dict:
    config = ckpt["config"]
    return model_card(ckpt, task="abpn", name=f"ABPN x3 (DeepCAMS S-SR), n_up={config['n_up']}, dim={config['dim']}",
                      net=ABPN, deepcams_config=DEEPCAMS_CONFIG, specific={
                          "scale_space": 3,
                          "tile": {"size": tile, "overlap": overlap, "note": tile_note},
                          "inputs": {"coarse": "(batch, 1, H, W) normalised field",
                                     "fine": "(batch, 1, 3H, 3W) normalised field"},
                      })


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--checkpoint", required=True)
    ap.add_argument("--out", default=DEFAULT_OUT, help="ONNX file to write (default: the shipped abpn.onnx)")
    ap.add_argument("--tile", type=int, default=64, help="coarse cells per inference tile side")
    ap.add_argument("--overlap", type=int, default=8)
    ap.add_argument("--tile-note", default="attention memory grows with (tile^2)^2; see README.md")
    args = ap.parse_args(argv)
    ckpt, model = load_checkpoint(args.checkpoint, ABPN)
    card = build_card(ckpt, args.tile, args.overlap, args.tile_note)
    report_written(args.out, export(model, args.out, card))


if __name__ == "__main__":
    main()
