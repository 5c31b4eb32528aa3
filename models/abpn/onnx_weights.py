"""Torch weights back out of a shipped ONNX file (for fine-tuning and the ONNX-vs-torch test).

The exporter renames some parameters (PReLU slopes are folded into reshaped constants) and
merges initializers with identical values, so names alone cannot find them. At export time
``weight_map`` matches every state-dict tensor to an initializer by value and the map is stored
in ``metadata_props['airmap_weights']``; ``load_state_dict_from_onnx`` reads it back.
Shared by ABPN and XVFI.
"""
from __future__ import annotations

import json
from typing import Dict

import numpy as np

from ...core.modelcard import set_metadata

WEIGHTS_KEY = "airmap_weights"


def weight_map(proto, state_dict) -> Dict[str, str]:
    """{state-dict name: initializer name} by exact value match (shape-insensitive)."""
    from onnx import numpy_helper

    inits = {}
    for init in proto.graph.initializer:
        arr = numpy_helper.to_array(init)
        inits.setdefault(arr.size, []).append((init.name, arr.ravel()))
    mapping = {}
    for name, tensor in state_dict.items():
        flat = tensor.detach().cpu().numpy().ravel()
        for init_name, arr in inits.get(flat.size, []):
            if init_name == name or (arr.dtype == flat.dtype and np.array_equal(arr, flat)):
                mapping[name] = init_name
                if init_name == name:
                    break
        if name not in mapping:
            raise RuntimeError(f"parameter {name} not found among the ONNX initializers")
    return mapping


def attach_weight_map(proto, state_dict) -> None:
    set_metadata(proto, WEIGHTS_KEY, json.dumps(weight_map(proto, state_dict), sort_keys=True))


def load_state_dict_from_onnx(path: str, model) -> None:
    """Fill ``model`` (built with the card's ``config``) with the weights stored in ``path``."""
    import onnx
    import torch

    from ..onnx_compact import stored_arrays

    proto = onnx.load(path)
    meta = {p.key: p.value for p in proto.metadata_props}
    if WEIGHTS_KEY not in meta:
        raise RuntimeError(f"{path} has no '{WEIGHTS_KEY}' map: re-export it with airmap's export script")
    mapping = json.loads(meta[WEIGHTS_KEY])
    inits = stored_arrays(proto)   # float32 also where the file stores float16 / int8
    state = {}
    for name, tensor in model.state_dict().items():
        state[name] = torch.from_numpy(inits[mapping[name]].copy()).reshape(tensor.shape)
    model.load_state_dict(state)
