"""The graphs of SPIN and IGNNK, built at run time from coordinates, observations and wind.

Every support is (T, N, N) with row i holding what node i receives. Only nodes with a
measurement at that time send (their columns are kept, the others zeroed), so a target's
estimate depends on the stations and on itself alone: targets can be inferred in batches of
any size with the same result, and a station gap at one hour changes only that hour's graph.
"""
from __future__ import annotations

import numpy as np

from .wind import local_km

S_REF = 3.0  # m/s: the wind speed at which an upwind station's advection weight equals its diffusion weight


def pair_offsets(lon: np.ndarray, lat: np.ndarray):
    """dx[i, j], dy[i, j]: km east and north from node j to node i; d: their distance."""
    x, y = local_km(np.asarray(lon, float), np.asarray(lat, float))
    dx = x[:, None] - x[None, :]
    dy = y[:, None] - y[None, :]
    return dx, dy, np.hypot(dx, dy)


def gaussian_kernel(d: np.ndarray, sigma_km: float, cutoff_km: float) -> np.ndarray:
    """exp(-(d/sigma)^2) within the cutoff, no self loops (a node's own state has its own weight)."""
    k = np.exp(-(d / sigma_km) ** 2) * (d < cutoff_km)
    np.fill_diagonal(k, 0.0)
    return k


def _senders(kernel: np.ndarray, observed: np.ndarray) -> np.ndarray:
    """(T, N, N) kernel with only the nodes observed at each time sending."""
    return kernel[None, :, :] * observed.T[:, None, :].astype(kernel.dtype)


def diffusion_supports(kernel: np.ndarray, observed: np.ndarray) -> np.ndarray:
    """Row-normalised (random-walk) diffusion over the observed senders: isotropic spreading."""
    w = _senders(kernel, observed)
    total = w.sum(axis=2, keepdims=True)
    return np.where(total > 0, w / np.where(total > 0, total, 1.0), 0.0).astype(np.float32)


def advection_weights(dx: np.ndarray, dy: np.ndarray, d: np.ndarray, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """(T, N, N) along-pair wind of the sender: max(0, |wind_j| cos(angle between the wind at
    j and the bearing j -> i)) in m/s. Positive when j is upwind of i; zero across or against."""
    with np.errstate(invalid="ignore", divide="ignore"):
        ex = np.where(d > 0, dx / np.where(d > 0, d, 1.0), 0.0)
        ey = np.where(d > 0, dy / np.where(d > 0, d, 1.0), 0.0)
    along = ex[None, :, :] * u.T[:, None, :] + ey[None, :, :] * v.T[:, None, :]
    return np.maximum(along, 0.0)


def advection_supports(kernel: np.ndarray, dx, dy, d, u: np.ndarray, v: np.ndarray,
                       observed: np.ndarray) -> np.ndarray:
    """Advection: the diffusion weights of observed senders scaled by their upwind wind speed
    over S_REF. Normalised by the same row total as diffusion, so weak wind adds little and
    the kernel's strength carries the speed."""
    w = _senders(kernel, observed)
    total = w.sum(axis=2, keepdims=True)
    adv = w * advection_weights(dx, dy, d, u, v) / S_REF
    return np.where(total > 0, adv / np.where(total > 0, total, 1.0), 0.0).astype(np.float32)


def spin_supports(lon, lat, observed: np.ndarray, u: np.ndarray, v: np.ndarray, sigma_km: float,
                  cutoff_km: float, advection: bool = True):
    """(diffusion, advection) supports of one window; advection is all zeros when off."""
    dx, dy, d = pair_offsets(lon, lat)
    kernel = gaussian_kernel(d, sigma_km, cutoff_km)
    diff = diffusion_supports(kernel, observed)
    if not advection:
        return diff, np.zeros_like(diff)
    return diff, advection_supports(kernel, dx, dy, d, u, v, observed)


def ignnk_sigma(lon, lat, station: np.ndarray) -> float:
    """IGNNK's kernel width: the standard deviation of the distances between stations (km)."""
    _, _, d = pair_offsets(np.asarray(lon)[station], np.asarray(lat)[station])
    upper = d[np.triu_indices_from(d, 1)]
    return float(max(upper.std(), 1e-3)) if upper.size else 1.0


def ignnk_support(lon, lat, senders: np.ndarray, sigma_km: float) -> np.ndarray:
    """(N, N) random-walk matrix of exp(-(d/sigma)^2) over the nodes that send (observed in the window)."""
    _, _, d = pair_offsets(lon, lat)
    k = np.exp(-(d / sigma_km) ** 2)
    np.fill_diagonal(k, 0.0)
    k = k * senders[None, :]
    total = k.sum(axis=1, keepdims=True)
    return np.where(total > 0, k / np.where(total > 0, total, 1.0), 0.0).astype(np.float32)
