"""Linear interpolation in time: T frames -> factor*(T-1)+1 frames."""
from __future__ import annotations

from typing import Callable

import numpy as np

from ..errors import AirmapInputError


def linear_in_time_frames(read: Callable[[int], np.ndarray], steps: int, factor: int,
                          write: Callable[[int, np.ndarray], None]) -> None:
    """Frame pair by frame pair: ``read(i)`` gives input frame i, ``write(j, frame)`` takes
    output frame j in order; two input frames are held at a time."""
    factor = int(factor)
    if factor < 2:
        raise AirmapInputError(f"FACTOR must be a whole number of at least 2, got {factor}.")
    if steps < 2:
        raise AirmapInputError("Temporal interpolation needs a raster with at least 2 bands (time steps).")
    following = np.asarray(read(0), dtype=np.float32)
    for i in range(steps - 1):
        first, following = following, np.asarray(read(i + 1), dtype=np.float32)
        for j in range(factor):
            w = j / factor
            write(i * factor + j, (1 - w) * first + w * following)
    write(factor * (steps - 1), following)


def linear_in_time(data: np.ndarray, factor: int = 3) -> np.ndarray:
    """Insert factor-1 frames between each pair, blended linearly; NaN where either end is NaN."""
    arr = np.asarray(data, dtype=np.float32)
    if arr.ndim != 3 or arr.shape[0] < 2:
        raise AirmapInputError("Temporal interpolation needs a raster with at least 2 bands (time steps).")
    factor = int(factor)
    out = np.empty((max(factor, 1) * (arr.shape[0] - 1) + 1,) + arr.shape[1:], dtype=np.float32)
    linear_in_time_frames(arr.__getitem__, arr.shape[0], factor, out.__setitem__)
    return out
