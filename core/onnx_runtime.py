"""ONNX Runtime for airmap: execution-provider choice, a session cache, model cards and
tiled inference with overlap blending so memory stays bounded for any raster size."""
from __future__ import annotations

import ctypes
import os
import threading
from dataclasses import dataclass
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np

from .errors import AirmapInputError, ModelError
from .modelcard import decode_card
from .progress import Progress, ensure

DEVICES = ("auto", "cpu", "cuda")
_CACHE: Dict[tuple, "OnnxModel"] = {}
_LOCK = threading.Lock()


def _cuda_driver_present() -> bool:
    """True only if the CUDA driver library loads; avoids ORT's CUDA error spam on CPU hosts."""
    try:
        ctypes.CDLL("libcuda.so.1")
        return True
    except OSError:
        return False


def candidate_providers(device: str = "auto") -> List[str]:
    """Execution providers to try, best first. TensorRT is never asked for: when absent it can
    push ORT to CPU even with CUDA present."""
    import onnxruntime as ort

    if device not in DEVICES:
        raise AirmapInputError(f"DEVICE must be one of {', '.join(DEVICES)}, got '{device}'.")
    available = ort.get_available_providers()
    want_cuda = device in ("auto", "cuda") and "CUDAExecutionProvider" in available and _cuda_driver_present()
    if device == "cuda" and not want_cuda:
        raise AirmapInputError("DEVICE is 'cuda' but no working CUDA runtime was found: "
                               "choose 'auto' or 'cpu', or install onnxruntime-gpu with a CUDA driver.")
    return (["CUDAExecutionProvider"] if want_cuda else []) + ["CPUExecutionProvider"]


@dataclass
class OnnxModel:
    """A validated model: its session, card and the provider really in use."""

    path: str
    session: object
    card: dict

    @property
    def provider(self) -> str:
        return self.session.get_providers()[0]

    @property
    def input_names(self) -> List[str]:
        return [i.name for i in self.session.get_inputs()]

    def run(self, feeds: Dict[str, np.ndarray], outputs: Optional[Sequence[str]] = None) -> List[np.ndarray]:
        return self.session.run(list(outputs) if outputs else None, feeds)

    def __call__(self, *arrays: np.ndarray) -> np.ndarray:
        """First output for positional inputs, in the graph's input order."""
        feeds = {name: np.ascontiguousarray(a, dtype=np.float32) for name, a in zip(self.input_names, arrays)}
        return self.session.run(None, feeds)[0]


def load_model(path: str, task=None, device: str = "auto", threads: Optional[int] = None) -> OnnxModel:
    """Open (or reuse) a session for ``path`` after validating its card against ``task``."""
    import onnxruntime as ort

    if not path or not os.path.isfile(path):
        raise ModelError(f"Model file '{path}' does not exist: choose an installed model or re-export it.")
    providers = candidate_providers(device)
    stat = os.stat(path)
    key = (os.path.abspath(path), stat.st_mtime_ns, stat.st_size, tuple(providers), threads)
    with _LOCK:
        cached = _CACHE.get(key)
        if cached is not None:
            decode_card(cached.session.get_modelmeta().custom_metadata_map, task, os.path.basename(path))
            return cached
        options = ort.SessionOptions()
        options.log_severity_level = 3  # errors only; provider fallback is reported by us
        if threads:
            options.intra_op_num_threads = int(threads)
        try:
            session = ort.InferenceSession(path, sess_options=options, providers=providers)
        except Exception as exc:  # ORT raises several types for bad files
            raise ModelError(f"Model file '{os.path.basename(path)}' could not be loaded ({exc}): "
                             "the file is corrupt or not ONNX; reinstall the plugin or re-export it.") from exc
        card = decode_card(session.get_modelmeta().custom_metadata_map, task, os.path.basename(path))
        model = OnnxModel(path, session, card)
        _CACHE[key] = model
        return model


def clear_cache() -> None:
    with _LOCK:
        _CACHE.clear()


# --- tiled inference ------------------------------------------------------------------------

def _tile_starts(length: int, tile: int, overlap: int) -> List[int]:
    if length <= tile:
        return [0]
    step = max(1, tile - overlap)
    starts = list(range(0, length - tile, step))
    starts.append(length - tile)
    return starts


def blend_window(height: int, width: int, ramp: int, edges=(True, True, True, True)) -> np.ndarray:
    """Tile weights for cross-fading: 0 at a tile edge shared with a neighbour, rising
    linearly to 1 over ``ramp`` cells, so cells next to a tile border (where a network sees
    padding instead of context) barely count. ``edges`` (top, bottom, left, right) says which
    sides are shared; sides on the raster border keep full weight."""
    def profile(n: int, start_shared: bool, end_shared: bool) -> np.ndarray:
        w = np.ones(n, dtype=np.float64)
        r = min(ramp, n // 2)
        if r > 0:
            rise = np.arange(r) / r
            if start_shared:
                w[:r] = rise
            if end_shared:
                w[n - r:] = np.minimum(w[n - r:], rise[::-1])
        return w

    top, bottom, left, right = edges
    return np.outer(profile(height, top, bottom), profile(width, left, right))


def run_tiled(predict: Callable[[np.ndarray], np.ndarray], array: np.ndarray, tile: int, overlap: int,
              scale: int = 1, multiple: int = 1, progress: Optional[Progress] = None) -> np.ndarray:
    """Apply ``predict`` over (C, H, W) ``array`` in tiles; return (C_out, H*scale, W*scale).

    ``predict`` maps a (C, h, w) tile to (C_out, h*scale, w*scale). Tiles are ``tile`` input
    cells square with ``overlap`` cells shared with each neighbour and are cross-faded in the
    overlap. Each tile is edge-padded up to a multiple of ``multiple`` (for networks with
    pooling or pyramid levels) and the padding is cropped from the output. Memory holds one
    tile plus the output, whatever the raster size.
    """
    if array.ndim != 3:
        raise ValueError("run_tiled expects a (channels, height, width) array")
    if tile <= 2 * overlap:
        raise ValueError("tile must exceed twice the overlap")
    progress = ensure(progress)
    _, height, width = array.shape
    rows, cols = _tile_starts(height, tile, overlap), _tile_starts(width, tile, overlap)
    out = None
    weight = np.zeros((height * scale, width * scale), dtype=np.float64)
    total, done = len(rows) * len(cols), 0
    for r0 in rows:
        for c0 in cols:
            progress.check()
            h, w = min(tile, height - r0), min(tile, width - c0)
            piece = array[:, r0:r0 + h, c0:c0 + w]
            ph, pw = (-h) % multiple, (-w) % multiple
            if ph or pw:
                piece = np.pad(piece, ((0, 0), (0, ph), (0, pw)), mode="edge")
            pred = np.asarray(predict(piece), dtype=np.float64)[:, :h * scale, :w * scale]
            if out is None:
                out = np.zeros((pred.shape[0], height * scale, width * scale), dtype=np.float64)
            shared = (r0 > 0, r0 + h < height, c0 > 0, c0 + w < width)
            win = blend_window(h * scale, w * scale, overlap * scale, shared)
            rs, cs = slice(r0 * scale, (r0 + h) * scale), slice(c0 * scale, (c0 + w) * scale)
            out[:, rs, cs] += pred * win
            weight[rs, cs] += win
            done += 1
            progress.set(done / total)
    return (out / weight).astype(np.float32)
