"""Torch checkpoints from shipped ONNX files, so fine-tuning can start from the released model
(the release ships only ONNX; its graph keeps every trained weight under its torch name)."""
from __future__ import annotations

import json

import torch

from ...core.modelcard import CARD_KEY


def checkpoint_from_onnx(onnx_path: str) -> dict:
    """{'state_dict', 'record'} rebuilt from an exported PointConv-UNet++ ONNX file.

    The graph holds all weights used at inference; the three shallower deep-supervision heads
    (training only) are not in it and start as copies of the deepest head."""
    import onnx

    from ..onnx_compact import stored_arrays

    model = onnx.load(onnx_path)
    props = {p.key: p.value for p in model.metadata_props}
    card = json.loads(props[CARD_KEY])
    if card.get("task") != "pointconv":
        raise ValueError(f"{onnx_path} is not a PointConv model")
    # float32 also where the file stores float16 / int8 weights (models/onnx_compact.py)
    state = {name: torch.from_numpy(arr.copy()) for name, arr in stored_arrays(model).items()}
    depth = card["architecture"]["depth"]
    last = depth - 1
    for j in range(last):
        for part in ("weight", "bias"):
            state.setdefault(f"unet.heads.{j}.{part}", state[f"unet.heads.{last}.{part}"].clone())
    arch = card["architecture"]
    record = {"variant": card["variant"], "filters": arch["unetpp_filters"], "k1": arch["pointconv_kernels_cells"][0],
              "k2": arch["pointconv_kernels_cells"][1], "parameters": arch["parameters"],
              "training": card["training"], "validation": card["metrics"].get("validation_simulated_800_station_density", {})}
    return {"state_dict": state, "record": record}


def load_checkpoint(path: str) -> dict:
    """A training checkpoint (.pt) or a shipped/exported model (.onnx)."""
    return checkpoint_from_onnx(path) if path.lower().endswith(".onnx") else torch.load(path)
