"""Torch weights back out of an exported ONNX file, for every airmap family (fine-tuning starts
from the shipped .onnx, the release ships no torch checkpoints; the bench's eager twins and the
ONNX-vs-torch tests use it too).

The exporter renames parameters (PReLU slopes become reshaped constants, HF-SDF's first and
skip layers are split into a latent part and a point part and transposed into MatMul operands)
and merges initializers with identical values, so names alone cannot find every tensor. At
export time ``weight_map`` matches each state-dict tensor to initializers by value and the map is
stored in ``metadata_props['airmap_weights']``:

    {name: "<initializer>"}                       whole tensor, any shape (reshaped back)
    {name: [[initializer, transposed, start, stop, factor], ...]}
                        a 2-D weight assembled from column blocks [start, stop), each stored as
                        is or transposed and multiplied by a constant the exporter folded in

Files without a map (PointConv's, whose graph keeps the torch names) are read by name, or, when
the exporter renamed weights (the first SPIN files), through a twin: the same graph exported
again with distinct random weights has the same initializer names, so matching the twin's
weights by value gives the file's map (``twin_weight_map``). Files
whose weights are stored as float16 / int8 (models/onnx_compact.py) read back as float32 under
the same names, through ``stored_arrays``.
"""
from __future__ import annotations

import json
from typing import Dict, Iterable, List, Optional

import numpy as np

from ..core.modelcard import set_metadata

WEIGHTS_KEY = "airmap_weights"


def _initializers(proto) -> Dict[str, np.ndarray]:
    from onnx import numpy_helper

    return {i.name: numpy_helper.to_array(i) for i in proto.graph.initializer}


def _block_factor(block: np.ndarray, weight: np.ndarray) -> Optional[float]:
    """f with block == f * weight (to float32 rounding), f = 1 preferred; None if none fits.
    The exporter folds constant factors into weights (HF-SDF's skip input is scaled 1/sqrt 2)."""
    if np.array_equal(block, weight):
        return 1.0
    nonzero = np.abs(weight) > 1e-12
    if not nonzero.any():
        return None
    factor = float(np.median(block[nonzero] / weight[nonzero]))
    if factor != 0 and np.allclose(block, weight * np.float32(factor), rtol=1e-6, atol=1e-12):
        return factor
    return None


def _column_blocks(weight: np.ndarray, inits: Dict[str, np.ndarray]) -> Optional[List[list]]:
    """Cover the columns of a 2-D ``weight`` left to right with initializers equal to a block
    of it (as stored or transposed, times a constant factor); None when a column has no match."""
    rows, cols = weight.shape
    blocks, start = [], 0
    while start < cols:
        found = None
        for name, arr in inits.items():
            if arr.ndim != 2 or arr.dtype != weight.dtype:
                continue
            for transposed, block in ((False, arr), (True, arr.T)):
                width = block.shape[1]
                if block.shape[0] != rows or start + width > cols:
                    continue
                factor = _block_factor(block, weight[:, start:start + width])
                if factor is not None:
                    found = [name, transposed, start, start + width, factor]
                    break
            if found:
                break
        if found is None:
            return None
        blocks.append(found)
        start = found[3]
    return blocks


def weight_map(proto, state_dict) -> Dict[str, object]:
    """{state-dict name: initializer name, or column blocks} by exact value match."""
    inits = _initializers(proto)
    by_size: Dict[int, list] = {}
    for name, arr in inits.items():
        by_size.setdefault(arr.size, []).append((name, arr.ravel()))
    mapping: Dict[str, object] = {}
    for name, tensor in state_dict.items():
        value = tensor.detach().cpu().numpy()
        flat = value.ravel()
        for init_name, arr in by_size.get(flat.size, []):
            if init_name == name or (arr.dtype == flat.dtype and np.array_equal(arr, flat)):
                mapping[name] = init_name
                if init_name == name:
                    break
        if name not in mapping and value.ndim == 2:
            blocks = _column_blocks(value, inits)
            if blocks is not None:
                mapping[name] = blocks
        if name not in mapping:
            raise RuntimeError(f"parameter {name} not found among the ONNX initializers")
    return mapping


def twin_weight_map(model, export_proto) -> Dict[str, object]:
    """The weight map of a file exported from ``model``'s architecture without one.
    ``export_proto(twin)`` exports a network to an ONNX proto exactly as the file was exported;
    the twin is ``model`` with distinct random weights, so no two initializers share values."""
    import copy

    import torch

    twin = copy.deepcopy(model)
    generator = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for tensor in twin.state_dict().values():
            if tensor.is_floating_point():
                tensor.copy_(torch.randn(tensor.shape, generator=generator, dtype=tensor.dtype))
    return weight_map(export_proto(twin), twin.state_dict())


def attach_weight_map(proto, state_dict) -> None:
    set_metadata(proto, WEIGHTS_KEY, json.dumps(weight_map(proto, state_dict), sort_keys=True))


def _assemble(entry, inits: Dict[str, np.ndarray], shape) -> np.ndarray:
    if isinstance(entry, str):
        return inits[entry].reshape(shape)
    out = np.empty(shape, dtype=inits[entry[0][0]].dtype)
    for init_name, transposed, start, stop, factor in entry:
        arr = inits[init_name]
        out[:, start:stop] = (arr.T if transposed else arr) / np.float32(factor)
    return out


def state_dict_from_onnx(path: str, model, prefixes: Iterable[str] = ("", "net."),
                         optional: Iterable[str] = (), twin_export=None) -> List[str]:
    """Fill ``model`` (built with the file's own configuration) with the weights stored in
    ``path``; return the names of ``optional`` parameters the file does not hold (left as the
    model has them, e.g. PointConv's training-only deep-supervision heads). Raises when any
    other parameter is missing. ``twin_export``: the family's ``export_proto`` for files that
    carry no weight map (``twin_weight_map``); the caller checks the result against the file."""
    import onnx
    import torch

    from .onnx_compact import stored_arrays

    proto = onnx.load(path)
    inits = stored_arrays(proto)   # float32 also where the file stores float16 / int8
    meta = {p.key: p.value for p in proto.metadata_props}
    if WEIGHTS_KEY in meta:
        mapping = json.loads(meta[WEIGHTS_KEY])
    else:
        mapping = twin_weight_map(model, twin_export) if twin_export is not None else {}
    optional = set(optional)
    state, absent = {}, []
    for name, tensor in model.state_dict().items():
        entry = mapping.get(name) or next((p + name for p in prefixes if p + name in inits), None)
        if entry is None:
            if name in optional:
                absent.append(name)
                continue
            raise RuntimeError(f"{path} does not hold the weight {name}: re-export it with airmap's export script")
        state[name] = torch.from_numpy(_assemble(entry, inits, tuple(tensor.shape)).copy())
    model.load_state_dict(state, strict=not absent)
    return absent
