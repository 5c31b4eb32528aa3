"""Single-map HF-SDF (torch backend): fit a latent-free network to one map's observations.

Used by ``airmap:hfsdf`` with MODE single-map. The public code fits one surface with IGR's
loss (manifold + full eikonal, reconstruction/run.py); the default here is the height form
(losses.single_map_height_loss: df/dz = 1 plus the bias points), because the map read-out
solves f = 0 along the height axis and relies on f growing with height. ``loss='eikonal'``
gives the public code's version. CPU defaults are smaller than the paper's (8 x 512,
10,000+ iterations): width 128 and 800 iterations, both parameters.
"""
from __future__ import annotations

import time
from typing import Optional

import numpy as np
import torch

from ...core.hfsdf.sampling import knn_sigma
from .losses import single_map_eikonal_loss, single_map_height_loss
from .net import ImplicitNet, NetConfig

LOSSES = ("height", "eikonal")


def set_torch_threads(n: int) -> None:
    """For benchmarks: pin torch to ``n`` threads (the plugin leaves torch's default)."""
    torch.set_num_threads(int(n))


class TorchDecoder:
    """The numpy-facing decoder interface of core/hfsdf/decoder.py for a torch network."""

    def __init__(self, net: ImplicitNet, chunk: int = 65536):
        self.net = net.eval()
        self.latent_dim = net.latent_dim
        self.chunk = chunk
        self.queries = 0

    def _lat(self, latent):
        return None if latent is None or not self.latent_dim else torch.as_tensor(np.asarray(latent, np.float32))

    def value(self, latent, points):
        out = []
        with torch.no_grad():
            for s in range(0, len(points), self.chunk):
                p = torch.from_numpy(np.ascontiguousarray(points[s:s + self.chunk], np.float32))
                out.append(self.net(self._lat(latent), p).numpy())
        self.queries += len(points)
        return np.concatenate(out) if out else np.zeros(0, np.float32)

    def jacobian(self, latent, points):
        """(f, df/dz, df/dlatent (N, L), d(df/dz)/dlatent (N, L)) as the ONNX graph's Jacobian
        branch gives them, so the numpy latent fit runs on a torch network too."""
        p = torch.from_numpy(np.ascontiguousarray(points, np.float32))
        with torch.no_grad():
            out = self.net.jacobian(self._lat(latent), p)
        self.queries += len(points)
        return tuple(o.numpy().astype(np.float64) for o in out)

    def value_and_dz(self, latent, points):
        fs, fzs = [], []
        with torch.no_grad():
            for s in range(0, len(points), self.chunk):
                p = torch.from_numpy(np.ascontiguousarray(points[s:s + self.chunk], np.float32))
                f, fz = self.net.value_and_dz(self._lat(latent), p)
                fs.append(f.numpy())
                fzs.append(fz.numpy())
        self.queries += len(points)
        if not fs:
            return np.zeros(0, np.float32), np.zeros(0, np.float32)
        return np.concatenate(fs), np.concatenate(fzs)


def fit_single_map(points: np.ndarray, *, width: int = 128, depth: int = 8, iterations: int = 800,
                   loss: str = "height", lr: float = 5e-3, batch: int = 2048, seed: int = 0,
                   progress=None) -> TorchDecoder:
    """Train a latent-free network whose zero level set passes through ``points`` (N, 3)."""
    from ...core.progress import ensure

    if loss not in LOSSES:
        raise ValueError(f"loss must be one of {LOSSES}")
    progress = ensure(progress)
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    points = np.asarray(points, np.float32)
    net = ImplicitNet(NetConfig(latent_dim=0, width=width, depth=depth))
    opt = torch.optim.Adam(net.parameters(), lr=lr)
    sigma = knn_sigma(points) if loss == "eikonal" else None
    for it in range(iterations):
        if it % 10 == 0:
            progress.set(it / iterations)
        if it and it % 2000 == 0:  # the public code halves the rate every 2000 iterations
            for g in opt.param_groups:
                g["lr"] *= 0.5
        pick = rng.choice(len(points), batch, replace=False) if len(points) > batch else slice(None)
        surf = points[pick]
        if loss == "height":
            value, _ = single_map_height_loss(net, surf, rng)
        else:
            value, _ = single_map_eikonal_loss(net, surf, sigma[pick], rng)
        opt.zero_grad()
        value.backward()
        opt.step()
    progress.set(1.0)
    return TorchDecoder(net)


def fit_latent_adam(net: ImplicitNet, points: np.ndarray, *, iterations: int = 800, lr: float = 5e-3,
                    seed: int = 0, max_points: int = 2048):
    """The paper's latent optimisation with torch (latent_optimizer.py): Adam, lr x0.1 every
    400 iterations, samples redrawn every step, start N(0, 1/L). Returns (latent, seconds).

    Used by the bench as the reference for the ONNX Levenberg-Marquardt fit; df/dz comes from
    the forward-mode tangent (faster than the paper's double backward, same values)."""
    from ...core.hfsdf.latent import FitProblem, initial_latent
    from ...core.hfsdf.sampling import nonsurface_samples
    from .losses import latent_fit_loss

    start = time.perf_counter()
    problem = FitProblem.build(points, seed, max_points)
    rng = np.random.default_rng(seed + 1)
    latent = torch.tensor(initial_latent(net.latent_dim, seed), dtype=torch.float32, requires_grad=True)
    opt = torch.optim.Adam([latent], lr=lr)
    surf = torch.from_numpy(problem.surface)
    for p in net.parameters():
        p.requires_grad_(False)
    for it in range(iterations):
        for g in opt.param_groups:
            g["lr"] = lr * 0.1 ** (it // 400)
        samples = torch.from_numpy(nonsurface_samples(problem.surface, rng))
        value = latent_fit_loss(net, latent, surf, samples)
        opt.zero_grad()
        value.backward()
        opt.step()
    for p in net.parameters():
        p.requires_grad_(True)
    return latent.detach().numpy().astype(np.float32), time.perf_counter() - start
