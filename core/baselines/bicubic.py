"""Bicubic ×factor in space: every cell split factor × factor, the same bounds.

``bicubic`` refines arrays in memory; ``bicubic_windows`` refines a band read by windows and
hands the output on in row strips, so its memory is one window row whatever the raster size
(the kernel reaches two cells, so each window is read with a margin and gives exactly the
values of the whole-band computation)."""
from __future__ import annotations

from typing import Callable, Optional, Tuple

import numpy as np

from ..errors import AirmapInputError
from ..nodata import fill_nearest

A = -0.5  # Keys' cubic convolution parameter (the common 'bicubic')


def _cubic(t: np.ndarray) -> np.ndarray:
    t = np.abs(t)
    return np.where(t <= 1, (A + 2) * t ** 3 - (A + 3) * t ** 2 + 1,
                    np.where(t < 2, A * t ** 3 - 5 * A * t ** 2 + 8 * A * t - 4 * A, 0.0))


def cubic_weights(n_in: int, factor: int, out0: int = 0, out1: Optional[int] = None,
                  in0: int = 0, in1: Optional[int] = None) -> np.ndarray:
    """Rows ``out0:out1`` and columns ``in0:in1`` of the (n_in*factor, n_in) matrix of
    cubic-convolution weights with cell-centre alignment and clamped edges; rows sum to one.
    The columns must hold every input cell those rows use (2 cells each side)."""
    out1 = n_in * factor if out1 is None else out1
    in1 = n_in if in1 is None else in1
    centre = (np.arange(out0, out1) + 0.5) / factor - 0.5
    base = np.floor(centre).astype(int)
    weights = np.zeros((out1 - out0, in1 - in0))
    for offset in (-1, 0, 1, 2):
        src = base + offset
        w = _cubic(centre - src)
        np.add.at(weights, (np.arange(out1 - out0), np.clip(src, 0, n_in - 1) - in0), w)
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


MARGIN = 8   # input cells read around a window: the kernel's 2, plus context for the no-data fill


def bicubic_windows(read: Callable[[Tuple[int, int, int, int]], np.ndarray], height: int, width: int,
                    factor: int, write: Callable[[int, np.ndarray], None], non_negative: bool,
                    block: int = 256, progress=None) -> None:
    """Bicubic ×factor of one band of ``height`` × ``width`` cells read by ``read((row0, col0,
    rows, cols))``; output rows go to ``write(first_row, rows)`` in order. ``non_negative``:
    the band's minimum is >= 0 (clip the result at zero, as ``bicubic``). No-data cells are
    filled from the nearest valid cell within the window and its margin (the whole-band
    ``bicubic`` looks further, which changes only the context of cells near large gaps)."""
    factor = int(factor)
    if factor < 2:
        raise AirmapInputError(f"FACTOR must be a whole number of at least 2, got {factor}.")
    for r0 in range(0, height, block):
        r1 = min(height, r0 + block)
        a0, a1 = max(0, r0 - MARGIN), min(height, r1 + MARGIN)
        wr = cubic_weights(height, factor, r0 * factor, r1 * factor, a0, a1)
        strip = np.empty(((r1 - r0) * factor, width * factor), dtype=np.float32)
        for c0 in range(0, width, block):
            if progress is not None:
                progress.check()
            c1 = min(width, c0 + block)
            b0, b1 = max(0, c0 - MARGIN), min(width, c1 + MARGIN)
            cells = np.asarray(read((a0, b0, a1 - a0, b1 - b0)), dtype=np.float64)
            valid = np.isfinite(cells)
            if not valid.any():
                strip[:, c0 * factor:c1 * factor] = np.nan
                continue
            wc = cubic_weights(width, factor, c0 * factor, c1 * factor, b0, b1)
            up = wr @ fill_nearest(cells) @ wc.T
            if non_negative:
                up = np.maximum(up, 0.0)
            core = valid[r0 - a0:r1 - a0, c0 - b0:c1 - b0]
            up[~np.kron(core, np.ones((factor, factor), bool))] = np.nan
            strip[:, c0 * factor:c1 * factor] = up
        write(r0 * factor, strip)
        if progress is not None:
            progress.set(r1 / height)
