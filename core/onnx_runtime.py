"""ONNX Runtime for airmap: execution-provider choice, a session cache, model cards and
tiled inference with overlap blending so memory stays bounded for any raster size.

The session cache is least-recently-used and holds at most ``CACHE_SIZE`` sessions (a session
keeps the arena of the largest input it ran, so an unbounded cache keeps the memory of the
largest run for as long as QGIS runs); the plugin empties it when it unloads. Sessions run
with an explicit number of intra-op threads (``threads``; default: the cores this process may
use), so a Dask worker or a QGIS limited to N cores does not oversubscribe the machine.
"""
from __future__ import annotations

import ctypes
import os
import threading
from collections import OrderedDict
from dataclasses import dataclass
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np

from .errors import AirmapInputError, ModelError
from .modelcard import decode_card
from .progress import Progress, ensure

DEVICES = ("auto", "cpu", "cuda")
CACHE_SIZE = 4   # sessions kept (DeepCAMS needs two at once; PointConv has two variants)
_CACHE: "OrderedDict[tuple, OnnxModel]" = OrderedDict()
_LOCK = threading.Lock()


def available_cores() -> int:
    """The CPU cores this process may run on (its affinity mask, e.g. a container's or a
    Dask worker's share), at least 1."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


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
    """Open (or reuse) a session for ``path`` after validating its card against ``task``.

    ``threads``: ONNX Runtime intra-op threads (None or 0: ``available_cores()``)."""
    import onnxruntime as ort

    if not path or not os.path.isfile(path):
        raise ModelError(f"Model file '{path}' does not exist: choose an installed model or re-export it.")
    if threads is not None and int(threads) < 0:
        raise AirmapInputError(f"THREADS must be 0 (all available cores) or more, got {threads}.")
    threads = int(threads) if threads else available_cores()
    providers = candidate_providers(device)
    stat = os.stat(path)
    key = (os.path.abspath(path), stat.st_mtime_ns, stat.st_size, tuple(providers), threads)
    with _LOCK:
        cached = _CACHE.get(key)
        if cached is not None:
            _CACHE.move_to_end(key)
            decode_card(cached.session.get_modelmeta().custom_metadata_map, task, os.path.basename(path))
            return cached
        options = ort.SessionOptions()
        options.log_severity_level = 3  # errors only; provider fallback is reported by us
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1   # airmap's graphs are sequential
        try:
            session = ort.InferenceSession(path, sess_options=options, providers=providers)
        except Exception as exc:  # ORT raises several types for bad files
            raise ModelError(f"Model file '{os.path.basename(path)}' could not be loaded ({exc}): "
                             "the file is corrupt or not ONNX; reinstall the plugin or re-export it.") from exc
        card = decode_card(session.get_modelmeta().custom_metadata_map, task, os.path.basename(path))
        model = OnnxModel(path, session, card)
        _CACHE[key] = model
        while len(_CACHE) > CACHE_SIZE:
            _CACHE.popitem(last=False)   # the least recently used session is released
        return model


def cached_sessions() -> int:
    return len(_CACHE)


def clear_cache() -> None:
    """Release every cached session (the plugin calls this when it unloads)."""
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
              scale: int = 1, multiple: int = 1, progress: Optional[Progress] = None,
              sink: Optional[Callable[[int, np.ndarray], None]] = None) -> Optional[np.ndarray]:
    """Apply ``predict`` over (C, H, W) ``array`` in tiles; return (C_out, H*scale, W*scale).

    ``predict`` maps a (C, h, w) tile to (C_out, h*scale, w*scale). Tiles are ``tile`` input
    cells square with ``overlap`` cells shared with each neighbour and are cross-faded in the
    overlap. Each tile is edge-padded up to a multiple of ``multiple`` (for networks with
    pooling or pyramid levels) and the padding is cropped from the output.

    Tiles run row by row; the blending sums live in one strip of a tile row's height, and rows
    no later tile touches are handed on as soon as a tile row is done. With ``sink`` they go to
    ``sink(first_output_row, rows (C_out, n, W*scale) float32)`` in order (e.g. a windowed file
    writer) and nothing is returned, so memory holds one tile row whatever the raster size;
    without it they fill the returned array. ``array`` only needs ``shape`` and slicing, so a
    windowed reader works too.
    """
    if len(array.shape) != 3:
        raise ValueError("run_tiled expects a (channels, height, width) array")
    if tile <= 2 * overlap:
        raise ValueError("tile must exceed twice the overlap")
    progress = ensure(progress)
    _, height, width = array.shape
    rows, cols = _tile_starts(height, tile, overlap), _tile_starts(width, tile, overlap)
    strip_h = min(tile, height) * scale
    out = None
    acc = weight = None      # blending sums of the current strip, rows from ``origin`` (input rows)
    origin, flushed = 0, 0   # first input row in the strip; input rows already handed on
    total, done = len(rows) * len(cols), 0

    def hand_on(stop: int) -> None:
        nonlocal flushed
        if stop <= flushed:
            return
        a, b = (flushed - origin) * scale, (stop - origin) * scale
        block = (acc[:, a:b] / weight[a:b]).astype(np.float32)
        if sink is not None:
            sink(flushed * scale, block)
        else:
            out[:, flushed * scale:stop * scale] = block
        flushed = stop

    for i, r0 in enumerate(rows):
        h = min(tile, height - r0)
        if acc is not None and r0 > origin:   # slide the strip down to start at r0
            keep = (r0 - origin) * scale
            acc[:, :strip_h - keep] = acc[:, keep:]
            acc[:, strip_h - keep:] = 0.0
            weight[:strip_h - keep] = weight[keep:]
            weight[strip_h - keep:] = 0.0
        origin = r0
        for c0 in cols:
            progress.check()
            w = min(tile, width - c0)
            piece = np.asarray(array[:, r0:r0 + h, c0:c0 + w], dtype=np.float32)
            ph, pw = (-h) % multiple, (-w) % multiple
            if ph or pw:
                piece = np.pad(piece, ((0, 0), (0, ph), (0, pw)), mode="edge")
            pred = np.asarray(predict(piece), dtype=np.float64)[:, :h * scale, :w * scale]
            if acc is None:
                acc = np.zeros((pred.shape[0], strip_h, width * scale), dtype=np.float64)
                weight = np.zeros((strip_h, width * scale), dtype=np.float64)
                if sink is None:
                    out = np.empty((pred.shape[0], height * scale, width * scale), dtype=np.float32)
            shared = (r0 > 0, r0 + h < height, c0 > 0, c0 + w < width)
            win = blend_window(h * scale, w * scale, overlap * scale, shared)
            cs = slice(c0 * scale, (c0 + w) * scale)
            acc[:, :h * scale, cs] += pred * win
            weight[:h * scale, cs] += win
            done += 1
            progress.set(done / total)
        hand_on(rows[i + 1] if i + 1 < len(rows) else height)
    return out
