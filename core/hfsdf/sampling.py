"""Point sampling around the lifted surface, as the public HF-SDF code does it (model/sample.py).

- local points: each surface point + N(0, sigma) on all three axes (sigma 0.01, or a per-point
  sigma in single-map mode: the distance to the 50th nearest neighbour, as IGR does);
- global points: uniform in [-1.8, 1.8]^3, one for every eight surface points;
- "bias" points: the same (x, y), height moved by delta = clamp(0.1 * 0.01 * N(0, 1), +-0.01),
  whose target value is delta itself (the height-field SDF grows by one per unit of height).

numpy only, so the same sampler serves torch training and the ONNX latent fitting.
"""
from __future__ import annotations

from typing import Tuple, Union

import numpy as np

LOCAL_SIGMA = 0.01
GLOBAL_HALF_WIDTH = 1.8
GLOBAL_FRACTION = 8      # one global point per this many surface points
BIAS_CLAMP = 0.01
KNN_SIGMA_K = 50


def local_samples(points: np.ndarray, rng: np.random.Generator,
                  sigma: Union[float, np.ndarray] = LOCAL_SIGMA) -> np.ndarray:
    sigma = np.asarray(sigma, dtype=np.float64)
    if sigma.ndim == 1:
        sigma = sigma[:, None]
    return (points + rng.standard_normal(points.shape) * sigma).astype(np.float32)


def global_samples(n: int, rng: np.random.Generator, half_width: float = GLOBAL_HALF_WIDTH) -> np.ndarray:
    return rng.uniform(-half_width, half_width, size=(int(n), 3)).astype(np.float32)


def nonsurface_samples(points: np.ndarray, rng: np.random.Generator,
                       sigma: Union[float, np.ndarray] = LOCAL_SIGMA) -> np.ndarray:
    """Local samples around every point followed by len(points)//8 global samples."""
    return np.concatenate([local_samples(points, rng, sigma),
                           global_samples(len(points) // GLOBAL_FRACTION, rng)], axis=0)


def bias_samples(points: np.ndarray, rng: np.random.Generator,
                 sigma: float = LOCAL_SIGMA, clamp: float = BIAS_CLAMP) -> Tuple[np.ndarray, np.ndarray]:
    """Points shifted vertically by a small delta, and delta (their target f)."""
    delta = np.clip(0.1 * sigma * rng.standard_normal(len(points)), -clamp, clamp)
    shifted = np.array(points, dtype=np.float32, copy=True)
    shifted[:, 2] += delta
    return shifted, delta.astype(np.float32)


def knn_sigma(points: np.ndarray, k: int = KNN_SIGMA_K) -> np.ndarray:
    """Per-point local sigma: distance to the k-th nearest other point (single-map mode)."""
    from scipy.spatial import cKDTree

    n = len(points)
    k = min(k, n - 1)
    if k < 1:
        return np.full(n, LOCAL_SIGMA)
    dist, _ = cKDTree(points).query(points, k + 1)
    return np.maximum(dist[:, -1], 1e-4)
