"""Bicubic ×factor in space: every cell split factor × factor, the same bounds."""
from __future__ import annotations

import numpy as np

from ..errors import AirmapInputError
from ..nodata import fill_nearest

A = -0.5  # Keys' cubic convolution parameter (the common 'bicubic')


def _cubic(t: np.ndarray) -> np.ndarray:
    t = np.abs(t)
    return np.where(t <= 1, (A + 2) * t ** 3 - (A + 3) * t ** 2 + 1,
                    np.where(t < 2, A * t ** 3 - 5 * A * t ** 2 + 8 * A * t - 4 * A, 0.0))


def cubic_weights(n_in: int, factor: int) -> np.ndarray:
    """(n_in*factor, n_in) matrix of cubic-convolution weights with cell-centre alignment and
    clamped edges; rows sum to one."""
    n_out = n_in * factor
    centre = (np.arange(n_out) + 0.5) / factor - 0.5
    base = np.floor(centre).astype(int)
    weights = np.zeros((n_out, n_in))
    for offset in (-1, 0, 1, 2):
        src = base + offset
        w = _cubic(centre - src)
        np.add.at(weights, (np.arange(n_out), np.clip(src, 0, n_in - 1)), w)
    return weights / weights.sum(axis=1, keepdims=True)


def bicubic(data: np.ndarray, factor: int = 3) -> np.ndarray:
    """(B, H, W) -> (B, H*factor, W*factor). No-data cells stay no-data (their sub-cells are
    NaN) and do not bleed into neighbours (they are filled from the nearest valid cell first).
    Non-negative inputs (concentrations) stay non-negative."""
    factor = int(factor)
    if factor < 2:
        raise AirmapInputError(f"FACTOR must be a whole number of at least 2, got {factor}.")
    arr = np.asarray(data, dtype=np.float64)
    if arr.ndim == 2:
        arr = arr[None]
    _, h, w = arr.shape
    wr, wc = cubic_weights(h, factor), cubic_weights(w, factor)
    out = np.empty((arr.shape[0], h * factor, w * factor), dtype=np.float32)
    for b, band in enumerate(arr):
        valid = np.isfinite(band)
        if not valid.any():
            out[b] = np.nan
            continue
        up = wr @ fill_nearest(band) @ wc.T
        if np.nanmin(band) >= 0:
            up = np.maximum(up, 0.0)
        up[~np.kron(valid, np.ones((factor, factor), bool))] = np.nan
        out[b] = up
    return out
