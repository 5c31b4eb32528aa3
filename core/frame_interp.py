"""×3 temporal interpolation of a time stack with the shipped XVFI ONNX model (QGIS-free).

T frames in, 3(T−1)+1 out: the input frames pass through unchanged and two frames are made
at t = 1/3 and 2/3 between each pair (``interpolate_pair`` takes any t in (0, 1)).

1. one ``Normaliser`` for the whole stack (core/normalise.py), so both frames of a pair share
   a scale, as in training;
2. no-data cells are filled from the nearest valid cell as network context only; an inserted
   cell is no-data where either neighbouring frame is no-data (the linear baseline's rule);
3. XVFI needs heights and widths that are multiples of 2^S·M·4 (32 for DeepCAMS): every tile
   is edge-padded up to that multiple and the padding is cropped off;
4. tiles with overlap and cross-fading bound memory for any raster size.
"""
from __future__ import annotations

import os
from typing import Optional, Sequence

import numpy as np

from .errors import AirmapInputError, ModelError
from .normalise import Normaliser, fit_normaliser
from .onnx_runtime import OnnxModel, load_model, run_tiled
from .progress import Progress, ensure
from .nodata import fill_nearest
from .superres import MODEL_DIR

FACTOR = 3
DEFAULT_XVFI = os.path.join(MODEL_DIR, "xvfi", "xvfi.onnx")
DEFAULT_TILE = 256
DEFAULT_OVERLAP = 32


def load_xvfi(path: Optional[str] = None, device: str = "auto", threads: Optional[int] = None) -> OnnxModel:
    model = load_model(path or DEFAULT_XVFI, task="xvfi", device=device, threads=threads)
    if "size_multiple" not in model.card:
        raise ModelError(f"The card of '{os.path.basename(model.path)}' lacks 'size_multiple': re-export the model.")
    return model


def _settings(model: OnnxModel, tile: Optional[int], overlap: Optional[int]):
    multiple = int(model.card["size_multiple"])
    card_tile = model.card.get("tile", {})
    tile = int(tile or card_tile.get("size", DEFAULT_TILE))
    overlap = int(overlap if overlap is not None else card_tile.get("overlap", DEFAULT_OVERLAP))
    if tile < multiple:
        raise AirmapInputError(f"TILE must be at least {multiple} cells for this model, got {tile}.")
    if not 0 <= overlap < tile // 2:
        raise AirmapInputError(f"OVERLAP must be between 0 and half the tile ({tile // 2 - 1}), got {overlap}.")
    return tile, overlap, multiple


def interpolate_pair(z0: np.ndarray, z1: np.ndarray, ts: Sequence[float], model: OnnxModel,
                     tile: Optional[int] = None, overlap: Optional[int] = None,
                     progress: Optional[Progress] = None) -> np.ndarray:
    """Normalised, gap-free frames (H, W) -> frames at each t in ``ts`` (len(ts), H, W)."""
    ts = [float(t) for t in ts]
    if not ts or not all(0.0 < t < 1.0 for t in ts):
        raise AirmapInputError(f"Interpolation times must lie strictly between 0 and 1, got {ts}.")
    tile, overlap, multiple = _settings(model, tile, overlap)
    t_feed = np.asarray(ts, dtype=np.float32).reshape(-1, 1)
    k = len(ts)

    def predict(piece: np.ndarray) -> np.ndarray:  # (2, h, w) -> (k, h, w)
        frames = np.repeat(piece[None], k, axis=0).astype(np.float32)      # (k, 2, h, w)
        return model(frames, t_feed)[:, 0]

    return run_tiled(predict, np.stack([z0, z1]).astype(np.float32), tile, overlap,
                     scale=1, multiple=multiple, progress=progress)


def interpolate_frames(data: np.ndarray, model: OnnxModel, factor: int = FACTOR,
                       tile: Optional[int] = None, overlap: Optional[int] = None,
                       progress: Optional[Progress] = None,
                       normaliser: Optional[Normaliser] = None, sink=None) -> Optional[np.ndarray]:
    """(T, H, W) with NaN no-data -> (factor·(T−1)+1, H, W) float32.

    Frames are made pair by pair (two gap-filled frames held at a time). ``sink``:
    ``sink(band, frame)`` receives each output frame in order and nothing is returned, so the
    output stack is never held whole."""
    progress = ensure(progress)
    arr = np.asarray(data, dtype=np.float32)
    if arr.ndim != 3 or arr.shape[0] < 2:
        raise AirmapInputError("Temporal interpolation needs a raster with at least 2 bands (time steps).")
    factor = int(factor)
    if factor < 2:
        raise AirmapInputError(f"FACTOR must be a whole number of at least 2, got {factor}.")
    norm = normaliser or fit_normaliser(arr, model.card.get("normalisation"))
    steps, h, w = arr.shape
    out = None
    if sink is None:
        out = np.empty((factor * (steps - 1) + 1, h, w), dtype=np.float32)
        sink = out.__setitem__
    ts = [j / factor for j in range(1, factor)]

    def prepared(i):  # (valid mask, gap-filled normalised frame or None)
        valid = np.isfinite(arr[i])
        return valid, (fill_nearest(norm.forward(arr[i])) if valid.any() else None)

    following = prepared(0)
    for i in range(steps - 1):
        (valid0, z0), following = following, prepared(i + 1)
        valid1, z1 = following
        sink(i * factor, arr[i])
        both = valid0 & valid1
        if not both.any():
            for j in range(1, factor):
                sink(i * factor + j, np.full((h, w), np.nan, dtype=np.float32))
            continue
        sub = progress.sub(i / (steps - 1), (i + 1) / (steps - 1))
        made = norm.inverse(interpolate_pair(z0, z1, ts, model, tile, overlap, sub)).astype(np.float32)
        made[:, ~both] = np.nan
        for j, frame in enumerate(made):
            sink(i * factor + 1 + j, frame)
    sink(factor * (steps - 1), arr[-1])
    return out
