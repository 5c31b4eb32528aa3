"""×3 temporal interpolation of a time stack with the shipped XVFI ONNX model (QGIS-free).

T frames in, 3(T−1)+1 out: the input frames pass through unchanged and two frames are made
at t = 1/3 and 2/3 between each pair (``interpolate_pair`` takes any t in (0, 1)).

1. one ``Normaliser`` for the whole stack (core/normalise.py), so both frames of a pair share
   a scale, as in training (fitted in streaming passes on an open raster, core/band_source.py);
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
from .normalise import Normaliser
from .onnx_runtime import OnnxModel, load_model, run_tiled
from .progress import Progress, ensure
from .band_source import ArrayBands, ReaderBands
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


def interpolate_frames(data, model: OnnxModel, factor: int = FACTOR,
                       tile: Optional[int] = None, overlap: Optional[int] = None,
                       progress: Optional[Progress] = None,
                       normaliser: Optional[Normaliser] = None, sink=None) -> Optional[np.ndarray]:
    """(T, H, W) with NaN no-data -> (factor·(T−1)+1, H, W) float32.

    ``data``: an array, or a ``core.band_source.ReaderBands`` (an open raster read by band and
    window, same result). Frames are made pair by pair, tile row by tile row. ``sink``:
    ``sink(band, first_row, rows)`` receives the rows of every output band in order (e.g.
    ``RasterWriter.write``) and nothing is returned, so the output stack is never held whole."""
    progress = ensure(progress)
    if isinstance(data, ReaderBands):
        source = data
    else:
        arr = np.asarray(data, dtype=np.float32)
        if arr.ndim != 3:
            raise AirmapInputError("Temporal interpolation needs a raster with at least 2 bands (time steps).")
        source = ArrayBands(arr)
    if source.count < 2:
        raise AirmapInputError("Temporal interpolation needs a raster with at least 2 bands (time steps).")
    factor = int(factor)
    if factor < 2:
        raise AirmapInputError(f"FACTOR must be a whole number of at least 2, got {factor}.")
    tile, overlap, multiple = _settings(model, tile, overlap)
    norm = normaliser or source.normaliser(model.card.get("normalisation"))
    steps, h, w = source.count, source.height, source.width
    out = None
    if sink is None:
        out = np.empty((factor * (steps - 1) + 1, h, w), dtype=np.float32)
        sink = lambda b, r0, rows: out[b].__setitem__(slice(r0, r0 + rows.shape[0]), rows)
    ts = [j / factor for j in range(1, factor)]
    t_feed = np.asarray(ts, dtype=np.float32).reshape(-1, 1)

    def predict(piece: np.ndarray) -> np.ndarray:  # (2, h, w) -> (k, h, w)
        frames = np.repeat(piece[None], len(ts), axis=0).astype(np.float32)      # (k, 2, h, w)
        return model(frames, t_feed)[:, 0]

    def copy_frame(i: int) -> None:   # input frames pass through unchanged
        for r0 in range(0, h, tile):
            sink(i * factor, r0, source.rows(i, r0, min(h, r0 + tile)))

    following = source.has_data(0)
    for i in range(steps - 1):
        progress.check()
        current, following = following, source.has_data(i + 1)
        copy_frame(i)
        if not (current and following):
            for j in range(1, factor):
                for r0 in range(0, h, tile):
                    sink(i * factor + j, r0, np.full((min(tile, h - r0), w), np.nan, dtype=np.float32))
            continue

        def finish(row0: int, pred: np.ndarray, i=i) -> None:
            # An inserted cell is no-data where either neighbouring frame is.
            r1 = row0 + pred.shape[1]
            both = np.isfinite(source.rows(i, row0, r1)) & np.isfinite(source.rows(i + 1, row0, r1))
            made = norm.inverse(pred).astype(np.float32)
            made[:, ~both] = np.nan
            for j, rows in enumerate(made):
                sink(i * factor + 1 + j, row0, rows)

        run_tiled(predict, source.filled([i, i + 1], norm), tile, overlap, scale=1, multiple=multiple,
                  progress=progress.sub(i / (steps - 1), (i + 1) / (steps - 1)), sink=finish)
    copy_frame(steps - 1)
    return out
