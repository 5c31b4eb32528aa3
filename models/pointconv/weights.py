"""Torch checkpoints from shipped ONNX files, so fine-tuning can start from the released model
(weights read by the one ONNX -> torch reader of every family, ``models/onnx_weights.py``)."""
from __future__ import annotations

import torch

from ...core import pointconv as pc
from ...core.onnx_runtime import load_model
from ..onnx_weights import state_dict_from_onnx
from .net import PointConvUNetPP


def checkpoint_from_onnx(onnx_path: str) -> dict:
    """{'state_dict', 'record'} rebuilt from an exported PointConv-UNet++ ONNX file.

    The graph holds all weights used at inference; the three shallower deep-supervision heads
    (training only) are not in it and start as copies of the deepest head."""
    card = load_model(onnx_path, pc.TASK, device="cpu").card
    variant = pc.check_card(card, onnx_path)
    arch = card["architecture"]
    k1, k2 = arch["pointconv_kernels_cells"]
    model = PointConvUNetPP(len(pc.VARIANT_VARIABLES[variant]), len(pc.COVARIATES), arch["unetpp_filters"], k1, k2)
    last = arch["depth"] - 1
    heads = [f"unet.heads.{j}.{part}" for j in range(last) for part in ("weight", "bias")]
    state_dict_from_onnx(onnx_path, model, optional=heads)
    state = model.state_dict()
    for name in heads:
        state[name] = state[name.replace(f"heads.{name.split('.')[2]}.", f"heads.{last}.")].clone()
    record = {"variant": variant, "filters": arch["unetpp_filters"], "k1": k1, "k2": k2,
              "parameters": arch["parameters"], "training": card["training"],
              "validation": card["metrics"].get("validation_simulated_800_station_density", {}),
              "trained_on": card.get("trained_on")}
    return {"state_dict": state, "record": record, "card": card}


def load_checkpoint(path: str) -> dict:
    """A training checkpoint (.pt, weights only) or a shipped/exported model (.onnx)."""
    return checkpoint_from_onnx(path) if path.lower().endswith(".onnx") else torch.load(path, weights_only=True)
