"""Linear interpolation in time: T frames -> factor*(T-1)+1 frames."""
from __future__ import annotations

import numpy as np

from ..errors import AirmapInputError


def linear_in_time(data: np.ndarray, factor: int = 3) -> np.ndarray:
    """Insert factor-1 frames between each pair, blended linearly; NaN where either end is NaN."""
    factor = int(factor)
    arr = np.asarray(data, dtype=np.float32)
    if factor < 2:
        raise AirmapInputError(f"FACTOR must be a whole number of at least 2, got {factor}.")
    if arr.ndim != 3 or arr.shape[0] < 2:
        raise AirmapInputError("Temporal interpolation needs a raster with at least 2 bands (time steps).")
    t = arr.shape[0]
    out = np.empty((factor * (t - 1) + 1,) + arr.shape[1:], dtype=np.float32)
    for i in range(t - 1):
        for j in range(factor):
            w = j / factor
            out[i * factor + j] = (1 - w) * arr[i] + w * arr[i + 1]
    out[-1] = arr[-1]
    return out
