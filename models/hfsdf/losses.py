"""The HF-SDF training losses, as the public code computes them.

Coded (shapespace/train.py, auto-decoder over many maps):
    mean|f(surface)| + mean|f(bias) - delta|
    + lambda [mean (df/dz(nonsurface) - 1)^2 + mean (df/dz(bias) - 1)^2]
    + alpha mean_maps ||z||_2                         lambda = 0.1, alpha = 1e-3

Single-map, public code (reconstruction/run.py = IGR): mean|f(surface)| + lambda mean(|grad f| - 1)^2
at local samples with a per-point sigma (50th-neighbour distance) and global samples.

Single-map, height form (``single_map_height_loss``, the plugin's default, a named deviation):
the coded loss without the latent terms, i.e. the height-field constraint df/dz = 1 that the
paper's read-out relies on instead of the full eikonal term of IGR.

df/dz comes from the network's forward-mode tangent (net.value_and_dz), identical to autograd
(tests/test_hfsdf_net.py) and cheaper than double backward.
"""
from __future__ import annotations

from typing import Dict, Tuple

import numpy as np
import torch

from ...core.hfsdf.sampling import bias_samples, global_samples, local_samples, GLOBAL_FRACTION
from .net import ImplicitNet, input_gradient

GRAD_LAMBDA = 0.1
LATENT_LAMBDA = 1e-3


def _t(a, device: torch.device = torch.device("cpu")) -> torch.Tensor:
    """numpy samples -> float32 tensor on ``device`` (no copy on the CPU)."""
    return torch.from_numpy(np.ascontiguousarray(a, dtype=np.float32)).to(device)


def coded_loss(net: ImplicitNet, latents: torch.Tensor, surface: np.ndarray,
               rng: np.random.Generator) -> Tuple[torch.Tensor, Dict[str, float]]:
    """``latents`` (B, L) of the maps in the batch; ``surface`` (B, P, 3) their sampled points."""
    b, p, _ = surface.shape
    dev = latents.device  # samples are drawn in numpy and moved to where the training runs
    flat = surface.reshape(-1, 3)
    idx = np.repeat(np.arange(b), p)
    local = local_samples(flat, rng)
    n_glob = p // GLOBAL_FRACTION
    glob = global_samples(b * n_glob, rng)
    idx_glob = np.repeat(np.arange(b), n_glob)
    biased, delta = bias_samples(flat, rng)
    nonsurface = np.concatenate([local, glob])
    idx_ns = np.concatenate([idx, idx_glob])

    lat_s = latents[torch.from_numpy(idx).to(dev)]
    f_s = net(lat_s, _t(flat, dev))
    _, fz_ns = net.value_and_dz(latents[torch.from_numpy(idx_ns).to(dev)], _t(nonsurface, dev))
    f_b, fz_b = net.value_and_dz(lat_s, _t(biased, dev))
    manifold = f_s.abs().mean()
    bias = (f_b - _t(delta, dev)).abs().mean()
    grad = ((fz_ns - 1) ** 2).mean() + ((fz_b - 1) ** 2).mean()
    latent = latents.norm(dim=1).mean()
    loss = manifold + bias + GRAD_LAMBDA * grad + LATENT_LAMBDA * latent
    return loss, {"loss": loss.item(), "manifold": manifold.item(), "bias": bias.item(),
                  "grad": grad.item(), "latent": latent.item()}


def single_map_height_loss(net: ImplicitNet, surface: np.ndarray,
                           rng: np.random.Generator) -> Tuple[torch.Tensor, Dict[str, float]]:
    """Coded loss of one map without a latent (deviation: see module docstring)."""
    local = local_samples(surface, rng)
    glob = global_samples(len(surface) // GLOBAL_FRACTION, rng)
    biased, delta = bias_samples(surface, rng)
    f_s = net(None, _t(surface))
    _, fz_ns = net.value_and_dz(None, _t(np.concatenate([local, glob])))
    f_b, fz_b = net.value_and_dz(None, _t(biased))
    manifold = f_s.abs().mean()
    bias = (f_b - _t(delta)).abs().mean()
    grad = ((fz_ns - 1) ** 2).mean() + ((fz_b - 1) ** 2).mean()
    loss = manifold + bias + GRAD_LAMBDA * grad
    return loss, {"loss": loss.item(), "manifold": manifold.item(), "bias": bias.item(), "grad": grad.item()}


def single_map_eikonal_loss(net: ImplicitNet, surface: np.ndarray, sigma: np.ndarray,
                            rng: np.random.Generator) -> Tuple[torch.Tensor, Dict[str, float]]:
    """The public code's single-map (IGR) loss: manifold + full eikonal, per-point sigma."""
    local = local_samples(surface, rng, sigma)
    glob = global_samples(len(surface) // GLOBAL_FRACTION, rng)
    f_s = net(None, _t(surface))
    _, g = input_gradient(net, None, _t(np.concatenate([local, glob])))
    manifold = f_s.abs().mean()
    eikonal = ((g.norm(dim=1) - 1) ** 2).mean()
    loss = manifold + GRAD_LAMBDA * eikonal
    return loss, {"loss": loss.item(), "manifold": manifold.item(), "eikonal": eikonal.item()}


def latent_fit_loss(net: ImplicitNet, latent: torch.Tensor, surface: torch.Tensor,
                    samples: torch.Tensor) -> torch.Tensor:
    """The paper's latent-fitting (MAP) loss, torch form (shapespace/latent_optimizer.py)."""
    f_o, fz_o = net.value_and_dz(latent, surface)
    _, fz_s = net.value_and_dz(latent, samples)
    return (f_o.abs().mean() + GRAD_LAMBDA * (((fz_s - 1) ** 2).mean() + ((fz_o - 1) ** 2).mean())
            + LATENT_LAMBDA * latent.abs().mean())
