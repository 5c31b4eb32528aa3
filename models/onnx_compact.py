"""Smaller ONNX files for bigger networks: weights stored at lower precision and cast back to
float32 inside the graph, so ONNX Runtime computes in float32 as before.

``compact(proto, max_bytes)`` changes a model only as far as it must to fit ``max_bytes``:

1. nothing, when the float32 file already fits;
2. else every float32 initializer of ``MIN_ELEMENTS`` or more stored as float16, each followed
   by a ``Cast`` to float32 whose output keeps the initializer's old name (so the graph, the
   weight maps and the readers below see the same names);
3. else, largest first, tensors stored as int8 with one float32 scale per output channel
   (symmetric, ``DequantizeLinear`` on axis 0) until the file fits.

Cast and DequantizeLinear of an initializer are constant-folded by ONNX Runtime when the
session starts, so inference costs the same as with float32 weights. ``stored_arrays`` reads
every weight back as float32 whatever its storage (fine-tuning from a shipped file, tests).
"""
from __future__ import annotations

from typing import Dict, Tuple

import numpy as np

MIN_ELEMENTS = 256      # smaller tensors (biases, PReLU slopes, constants) stay float32
FP16_SUFFIX = "__fp16"
INT8_SUFFIX = "__int8"
SCALE_SUFFIX = "__scale"


def _float32_initializers(graph):
    from onnx import TensorProto

    return [i for i in graph.initializer if i.data_type == TensorProto.FLOAT]


def _size(proto) -> int:
    return proto.ByteSize()


def _to_fp16(graph, init) -> None:
    """Replace float32 initializer ``init`` by a float16 copy + Cast back to its old name."""
    from onnx import TensorProto, helper, numpy_helper

    arr = numpy_helper.to_array(init)
    name = init.name
    init.CopyFrom(numpy_helper.from_array(arr.astype(np.float16), name + FP16_SUFFIX))
    graph.node.insert(0, helper.make_node("Cast", [name + FP16_SUFFIX], [name], to=TensorProto.FLOAT,
                                          name=name + "_cast"))


def _to_int8(graph, name: str) -> None:
    """Replace the float16-stored tensor ``name`` by int8 + per-output-channel scale."""
    from onnx import helper, numpy_helper

    init = next(i for i in graph.initializer if i.name == name + FP16_SUFFIX)
    arr = numpy_helper.to_array(init).astype(np.float32)
    flat = arr.reshape(arr.shape[0], -1)
    scale = np.abs(flat).max(axis=1) / 127.0
    scale[scale == 0] = 1.0
    q = np.clip(np.round(flat / scale[:, None]), -127, 127).astype(np.int8).reshape(arr.shape)
    graph.initializer.remove(init)
    graph.initializer.extend([numpy_helper.from_array(q, name + INT8_SUFFIX),
                              numpy_helper.from_array(scale.astype(np.float32), name + SCALE_SUFFIX)])
    cast = next(n for n in graph.node if n.op_type == "Cast" and list(n.output) == [name])
    graph.node.remove(cast)
    graph.node.insert(0, helper.make_node("DequantizeLinear", [name + INT8_SUFFIX, name + SCALE_SUFFIX], [name],
                                          axis=0, name=name + "_dequantize"))


def compact(proto, max_bytes: int) -> Dict[str, int]:
    """Shrink ``proto`` (in place) until it serialises to at most ``max_bytes``; return what was
    done: {'fp16': tensors, 'int8': tensors, 'bytes': final size}. Raises ValueError when even
    int8 storage of every large tensor does not fit."""
    graph = proto.graph
    done = {"fp16": 0, "int8": 0}
    if _size(proto) > max_bytes:
        large = [i for i in _float32_initializers(graph) if np.prod(i.dims) >= MIN_ELEMENTS]
        for init in large:
            _to_fp16(graph, init)
        done["fp16"] = len(large)
        by_size = sorted(((int(np.prod(i.dims)), i.name[:-len(FP16_SUFFIX)]) for i in graph.initializer
                          if i.name.endswith(FP16_SUFFIX) and len(i.dims) >= 2), reverse=True)
        for _, name in by_size:
            if _size(proto) <= max_bytes:
                break
            _to_int8(graph, name)
            done["int8"] += 1
    done["bytes"] = _size(proto)
    if done["bytes"] > max_bytes:
        raise ValueError(f"the model needs {done['bytes'] / 2**20:.1f} MiB even with int8 weights "
                         f"(limit {max_bytes / 2**20:.1f} MiB)")
    if done["fp16"]:
        _raise_opset(proto, 13 if done["int8"] else 1)
    return done


def _raise_opset(proto, minimum: int) -> None:
    for op in proto.opset_import:
        if op.domain in ("", "ai.onnx") and op.version < minimum:
            op.version = minimum


def stored_arrays(proto) -> Dict[str, np.ndarray]:
    """Every weight of ``proto`` as float32 under the name the graph uses: plain initializers,
    and the outputs of the Cast / DequantizeLinear nodes that ``compact`` put after stored ones."""
    from onnx import numpy_helper

    inits = {i.name: numpy_helper.to_array(i) for i in proto.graph.initializer}
    out = {name: arr for name, arr in inits.items()
           if not name.endswith((FP16_SUFFIX, INT8_SUFFIX, SCALE_SUFFIX))}
    for node in proto.graph.node:
        if node.op_type == "Cast" and node.input[0].endswith(FP16_SUFFIX) and node.input[0] in inits:
            out[node.output[0]] = inits[node.input[0]].astype(np.float32)
        elif node.op_type == "DequantizeLinear" and node.input[0].endswith(INT8_SUFFIX) and node.input[0] in inits:
            q, scale = inits[node.input[0]], inits[node.input[1]]
            out[node.output[0]] = (q.astype(np.float32) * scale.reshape((-1,) + (1,) * (q.ndim - 1)))
    return out


def storage_note(done: Dict[str, int]) -> str:
    """How the weights are stored, for the model card."""
    if not done["fp16"]:
        return "float32"
    note = f"{done['fp16']} tensors stored as float16"
    if done["int8"]:
        note += f", of which the {done['int8']} largest as int8 with per-output-channel float32 scales"
    return note + "; cast to float32 in the graph (ONNX Runtime computes in float32)"

