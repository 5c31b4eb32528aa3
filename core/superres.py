"""×3 spatial super-resolution of raster bands with the shipped ABPN ONNX model (QGIS-free).

Every band is one field; every cell is split 3 × 3 (the output grid is ``grid.refined(3)``).
The pipeline around the network:

1. one ``Normaliser`` for the whole input (core/normalise.py, the function used in training;
   fitted in streaming passes when the input is an open raster, core/band_source.py);
2. no-data cells are filled from the nearest valid cell *only as network context* and are
   no-data again in the output (all nine sub-cells), so they neither become zeros nor bleed;
3. tiles of ``tile`` coarse cells with ``overlap`` cells cross-faded (ABPN's attention is
   quadratic in tile area, so tiling is what bounds memory);
4. the inverse normalisation (non-negative inputs stay non-negative);
5. the block means of the output are made equal to the input cells (``conserve_block_means``):
   a coarse cell is the mean of its 3 × 3 sub-cells, so a refinement that changes it invents or
   loses mass. On fields with sharp isolated hotspots the network can overshoot a sub-cell by
   several times (real CAMS, a 0.75° cell of 724 µg/m³ refined to a 7,950 µg/m³ sub-cell); the
   rescaling bounds that to what the coarse value allows (measured in bench/RESULTS.md).
"""
from __future__ import annotations

import os
from typing import Optional

import numpy as np

from .errors import AirmapInputError, ModelError
from .band_source import ArrayBands, ReaderBands
from .onnx_runtime import OnnxModel, load_model, run_tiled
from .progress import Progress, ensure

SCALE = 3
MODEL_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "models")
DEFAULT_ABPN = os.path.join(MODEL_DIR, "abpn", "abpn.onnx")
DEFAULT_TILE = 64      # coarse cells; see the model card (measured memory per tile size)
DEFAULT_OVERLAP = 8


def load_abpn(path: Optional[str] = None, device: str = "auto", threads: Optional[int] = None) -> OnnxModel:
    model = load_model(path or DEFAULT_ABPN, task="abpn", device=device, threads=threads)
    if int(model.card.get("scale_space", SCALE)) != SCALE:
        raise ModelError(f"'{os.path.basename(model.path)}' refines ×{model.card.get('scale_space')}, "
                         "airmap's ABPN algorithms refine ×3: choose a ×3 model.")
    return model


def tile_settings(model: OnnxModel, tile: Optional[int], overlap: Optional[int]):
    card_tile = model.card.get("tile", {})
    tile = int(tile or card_tile.get("size", DEFAULT_TILE))
    overlap = int(overlap if overlap is not None else card_tile.get("overlap", DEFAULT_OVERLAP))
    if tile < 8:
        raise AirmapInputError(f"TILE must be at least 8 cells, got {tile}.")
    if not 0 <= overlap < tile // 2:
        raise AirmapInputError(f"OVERLAP must be between 0 and half the tile ({tile // 2 - 1}), got {overlap}.")
    return tile, overlap


def conserve_block_means(fine: np.ndarray, coarse: np.ndarray, non_negative: bool,
                         factor: int = SCALE) -> np.ndarray:
    """``fine`` (..., fH, fW) adjusted so that each f×f block averages to its ``coarse`` cell.

    Non-negative fields (concentrations; the normaliser's decision, which forgives round-off
    negatives) are rescaled per block, which keeps them non-negative and the sub-cell pattern's
    proportions; a block whose sub-cells are all zero takes the coarse value. Fields with negative
    values (anomalies, temperatures in °C) are shifted per block. NaN cells stay NaN."""
    fine = np.asarray(fine, dtype=np.float64)
    coarse = np.asarray(coarse, dtype=np.float64)
    if non_negative:
        coarse = np.maximum(coarse, 0.0)
    shape = coarse.shape[:-2] + (coarse.shape[-2], factor, coarse.shape[-1], factor)
    blocks = fine.reshape(shape)
    means = blocks.mean(axis=(-3, -1), keepdims=True)
    target = coarse[..., :, None, :, None]
    if non_negative:
        with np.errstate(divide="ignore", invalid="ignore"):
            adjusted = np.where(means > 0, blocks * (target / means), target)
    else:
        adjusted = blocks + (target - means)
    return adjusted.reshape(fine.shape).astype(np.float32)


def super_resolve(data, model: OnnxModel, tile: Optional[int] = None,
                  overlap: Optional[int] = None, progress: Optional[Progress] = None,
                  conserve: bool = True, sink=None) -> Optional[np.ndarray]:
    """(B, H, W) float with NaN no-data -> (B, 3H, 3W) float32. ``conserve``: make every
    3 × 3 block average to its input cell (step 5 above; off = the network's raw output).

    ``data``: an array, or a ``core.band_source.ReaderBands`` (an open raster read by band and
    window: the normaliser is fitted in streaming passes and gaps are filled tile by tile, with
    the same result as the array). ``sink``: ``sink(band, first_row, rows)`` receives the
    output band by band in finished row strips (e.g. ``RasterWriter.write``) and nothing is
    returned, so the output is never held whole."""
    progress = ensure(progress)
    source = data if isinstance(data, ReaderBands) else _array_source(data)
    tile, overlap = tile_settings(model, tile, overlap)
    norm = source.normaliser(model.card.get("normalisation"))
    bands, h, w = source.count, source.height, source.width
    out = None
    if sink is None:
        out = np.full((bands, h * SCALE, w * SCALE), np.nan, dtype=np.float32)
        sink = lambda b, r0, rows: out[b].__setitem__(slice(r0, r0 + rows.shape[0]), rows)

    def predict(piece: np.ndarray) -> np.ndarray:  # (1, h, w) -> (1, 3h, 3w)
        return model(piece[None].astype(np.float32))[0]

    for b in range(bands):
        if not source.has_data(b):   # an all-no-data band stays all no-data
            for r0 in range(0, h, max(1, tile)):
                sink(b, r0 * SCALE, np.full((min(tile, h - r0) * SCALE, w * SCALE), np.nan, np.float32))
            continue
        sub = progress.sub(b / bands, (b + 1) / bands)

        def finish(row0: int, pred: np.ndarray, b=b) -> None:
            c0 = row0 // SCALE
            coarse = source.rows(b, c0, c0 + pred.shape[1] // SCALE)
            fine = norm.inverse(pred[0]).astype(np.float32)
            if conserve:
                fine = conserve_block_means(fine, coarse, norm.non_negative)
            fine[~np.repeat(np.repeat(np.isfinite(coarse), SCALE, 0), SCALE, 1)] = np.nan
            sink(b, row0, fine)

        run_tiled(predict, source.filled([b], norm), tile, overlap, scale=SCALE, progress=sub, sink=finish)
    return out


def _array_source(data) -> ArrayBands:
    arr = np.asarray(data, dtype=np.float32)
    if arr.ndim == 2:
        arr = arr[None]
    if arr.ndim != 3:
        raise AirmapInputError("Super-resolution needs a raster (bands, rows, columns).")
    return ArrayBands(arr)
