"""Export a PointConv-UNet++ checkpoint to ONNX with its airmap model card, and check that
ONNX Runtime reproduces torch.

    PYTHONPATH=/work/main/.pkg /work/main/.venv/bin/python -m airmap.models.pointconv.export \
        /tmp/pointconv_pm25.pt models/pointconv/pointconv_pm25.onnx
"""
from __future__ import annotations

import argparse
import json
import os

import numpy as np
import torch

from ...core import pointconv as pc
from ...core.modelcard import SCHEMA, attach_card
from .net import PointConvUNetPP

OPSET = 17


SOURCES = {"simulator": "simulated fields only (airmap simulator), never on observations",
           "random": "smooth random development fields only (data.smooth_random_days), never on observations",
           "rasters": "the user's gridded daily fields (train.py --source rasters)"}


def trained_on(record: dict) -> str:
    """What the weights saw, from the run record (a fine-tuned or --init run names every stage)."""
    if record.get("trained_on"):
        return record["trained_on"]
    return SOURCES[record.get("args", {}).get("source", "simulator")]


def build_card(record: dict, extra_metrics: dict | None = None) -> dict:
    variant = record["variant"]
    metrics = {"validation_simulated_800_station_density": record["validation"]} if record.get("validation") else {}
    metrics.update(extra_metrics or {})
    return {
        "schema": SCHEMA,
        "task": pc.TASK,
        "name": f"PointConv-UNet++ ({'PM2.5 + RH + wind-speed stations' if variant == 'met' else 'PM2.5 stations only'})",
        "variant": variant,
        "units": "ug/m3",
        "inputs": pc.channel_names(variant),
        "output": "pm25 relative to the day's station mean (multiply by normalisation scale)",
        "normalisation": pc.normalisation_card(),
        "multiple": pc.MULTIPLE,
        "tile": {"size": pc.DEFAULT_TILE, "overlap": pc.DEFAULT_OVERLAP},
        "architecture": {"pointconv_kernels_cells": [record["k1"], record["k2"]],
                         "unetpp_filters": record["filters"], "depth": len(record["filters"]) - 1,
                         "parameters": record["parameters"], "head": "ReLU, deepest of 4 deep-supervision heads"},
        "cells": {"trained_station_density": list(pc.TRAINED_DENSITY),
                  "note": "kernels are in cells; inference runs on a working grid coarse enough to reach "
                          "the trained station density (stations per cell) and interpolates to the output grid"},
        "training": record["training"],
        "metrics": metrics,
        "trained_on": trained_on(record),
    }


def export(checkpoint: str, onnx_path: str, extra_metrics: dict | None = None) -> dict:
    ckpt = torch.load(checkpoint, weights_only=True)
    rec = ckpt["record"]
    model = PointConvUNetPP(len(pc.VARIANT_VARIABLES[rec["variant"]]), len(pc.COVARIATES), rec["filters"],
                            rec["k1"], rec["k2"])
    model.load_state_dict(ckpt["state_dict"])
    return export_model(model, rec, onnx_path, metrics=extra_metrics)


def export_model(model: PointConvUNetPP, record: dict, onnx_path: str, trained_on: str | None = None,
                 metrics: dict | None = None, extra: dict | None = None) -> dict:
    """Write ``model`` with its card (built from ``record``; ``trained_on`` and ``extra`` fields
    override) to ``onnx_path`` once ONNX Runtime reproduces torch; return the card."""
    import onnx

    model.eval()
    channels = len(pc.channel_names(record["variant"]))
    example = torch.rand(1, channels, 64, 80)
    tmp = onnx_path + ".tmp"
    torch.onnx.export(model, (example,), tmp, input_names=["x"], output_names=["pm25"], opset_version=OPSET,
                      dynamic_axes={"x": {0: "batch", 2: "height", 3: "width"},
                                    "pm25": {0: "batch", 2: "height", 3: "width"}},
                      dynamo=False)
    card = build_card(dict(record, trained_on=trained_on) if trained_on else record, metrics)
    card.update(extra or {})
    try:
        proto = onnx.load(tmp)
        attach_card(proto, card)
        onnx.save(proto, tmp)
        _check(model, tmp, channels)
        os.replace(tmp, onnx_path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
    return card


def _check(model, path: str, channels: int) -> None:
    """ONNX Runtime must match torch on a random input of another size."""
    import onnxruntime as ort

    x = torch.rand(1, channels, 96, 112)
    x[:, 1::2] = (x[:, 1::2] > 0.97).float()  # sparse masks like real station grids
    with torch.no_grad():
        ref = model(x).numpy()
    sess = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    got = sess.run(None, {"x": x.numpy()})[0]
    err = float(np.abs(got - ref).max())
    if err > 1e-3 * max(1.0, float(np.abs(ref).max())):
        raise RuntimeError(f"ONNX output differs from torch by {err}")


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("checkpoint")
    p.add_argument("onnx")
    p.add_argument("--metrics-json", default=None, help="extra metrics (e.g. from the bench) for the card")
    args = p.parse_args(argv)
    extra = json.load(open(args.metrics_json)) if args.metrics_json else None
    card = export(args.checkpoint, args.onnx, extra)
    print(f"wrote {args.onnx} ({os.path.getsize(args.onnx) / 1e6:.2f} MB)")
    print(json.dumps(card, indent=1))


if __name__ == "__main__":
    main()
