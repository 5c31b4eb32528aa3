"""Torch-eager twins of the shipped ONNX models, for the benchmark's ONNX-vs-torch row.

The weights are read back from the ONNX file itself (``models/onnx_weights.py``), so both runtimes run
exactly the same network. Lives in models/ because it imports torch.
"""
from __future__ import annotations

from typing import Callable

import numpy as np


def eager_model(onnx_path: str, card: dict, threads: int = 1):
    import torch

    torch.set_num_threads(int(threads))
    if card["task"] == "abpn":
        from .net import ABPN as Net
    else:
        from ..xvfi.net import XVFI as Net
    from ..onnx_weights import state_dict_from_onnx

    net = Net(**card["config"]).eval()
    state_dict_from_onnx(onnx_path, net)
    return net


def as_numpy_callable(net) -> Callable[..., np.ndarray]:
    """f(*arrays) -> first output, like ``OnnxModel.__call__``."""
    import torch

    def call(*arrays):
        with torch.no_grad():
            return net(*[torch.from_numpy(np.ascontiguousarray(a, dtype=np.float32)) for a in arrays]).numpy()

    return call
