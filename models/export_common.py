"""What the ABPN and XVFI exporters share: loading a trainer's checkpoint, the model-card
fields both cards carry, and writing an ONNX file that has been checked against torch, with
its card and the torch weight map attached.

Each exporter keeps its own example/check inputs, ONNX input names and task-specific card
fields (scales, tiling, input descriptions).
"""
from __future__ import annotations

import os
import warnings
from typing import Callable, Dict, Sequence, Tuple

import numpy as np
import torch

from ..core.modelcard import SCHEMA, attach_card
from ..core.normalise import card_entry
from .onnx_weights import attach_weight_map

OPSET = 17
UNITS = "same as the input (trained on PM2.5 in ug/m3; the normalisation is scale-free)"
TRAINED_ON = "the airmap simulator (no pretrained weights of the paper exist)"


def count_parameters(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def load_checkpoint(path: str, net: Callable[..., torch.nn.Module]) -> Tuple[dict, torch.nn.Module]:
    """A trainer's ``.pt`` file and the network rebuilt from its config and weights."""
    ckpt = torch.load(path, map_location="cpu", weights_only=True)
    model = net(**ckpt["config"])
    model.load_state_dict(ckpt["state_dict"])
    return ckpt, model


def model_card(ckpt: dict, *, task: str, name: str, net: Callable[..., torch.nn.Module],
               deepcams_config: dict, specific: Dict) -> dict:
    """The card: common head (schema .. metrics), the task's ``specific`` fields, then the
    architecture tail (config, parameter counts of this model and of the paper's)."""
    config = ckpt["config"]
    card = {
        "schema": SCHEMA,
        "task": task,
        "name": name,
        "units": UNITS,
        "normalisation": ckpt.get("normalisation", card_entry()),
        "training": dict(ckpt["training"]),
        "metrics": {"held_out_simulated": ckpt.get("metrics", {})},
    }
    card.update(specific)
    card.update({
        "config": config,
        "parameters": count_parameters(net(**config)),
        "deepcams_config": deepcams_config,
        "deepcams_parameters": count_parameters(net(**deepcams_config)),
        "trained_on": TRAINED_ON,
    })
    return card


def export_graph(model: torch.nn.Module, example: Tuple[torch.Tensor, ...], target, input_names: Sequence[str],
                 output_names: Sequence[str], dynamic_axes: Dict) -> None:
    """The one torch -> ONNX call of every airmap exporter (``target``: a path or a file
    object); the same model and settings always give the same graph and initializer names."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(model, example, target, input_names=list(input_names), output_names=list(output_names),
                          dynamic_axes=dynamic_axes, opset_version=OPSET, dynamo=False)


def write_checked_onnx(model: torch.nn.Module, path: str, card: dict, example: Tuple[torch.Tensor, ...],
                       output_names: Sequence[str], dynamic_axes: Dict, check: Dict[str, np.ndarray],
                       weight_map: bool = True) -> float:
    """Export ``model`` (inputs named as the keys of ``check``, in forward() order) to ``path``
    with ``card`` and the weight map attached; return max |ONNX − torch| on the ``check``
    inputs, which is also recorded as ``metrics.onnx_vs_torch_max_abs``. ``weight_map=False``
    leaves the weight map out (graphs whose weights the exporter transposes). The file only
    appears at ``path`` once complete (written via ``path + '.tmp'``)."""
    import onnx
    import onnxruntime as ort

    model.eval()
    tmp = path + ".tmp"
    export_graph(model, example, tmp, list(check), output_names, dynamic_axes)
    with torch.no_grad():
        ref = model(*(torch.from_numpy(v) for v in check.values())).numpy()
    sess = ort.InferenceSession(tmp, providers=["CPUExecutionProvider"])
    diff = float(np.abs(sess.run(None, check)[0] - ref).max())
    card.setdefault("metrics", {})["onnx_vs_torch_max_abs"] = diff
    proto = onnx.load(tmp)
    attach_card(proto, card)
    if weight_map:
        attach_weight_map(proto, model.state_dict())   # lets fine-tuning and tests recover torch weights
    onnx.save(proto, path)
    os.remove(tmp)
    return diff


def report_written(path: str, diff: float) -> None:
    print(f"wrote {path} ({os.path.getsize(path) / 1e6:.1f} MB), ONNX vs torch max |diff| {diff:.2e}")
