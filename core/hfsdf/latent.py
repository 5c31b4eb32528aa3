"""Fitting a new map's latent code with the ONNX decoder alone (no torch).

The objective is the public code's latent optimisation loss (shapespace/latent_optimizer.py):

    E(z) = mean_obs |f(obs)| + 0.1 [ mean_samples (df/dz - 1)^2 + mean_obs (df/dz - 1)^2 ]
           + 1e-3 mean |z|

The paper minimises it with Adam (800 iterations, lr 5e-3, x0.1 every 400) through torch's
second-order autograd. Here the exported graph returns f, df/dz and their Jacobians with
respect to the latent, and E is minimised with Levenberg-Marquardt on its iteratively
reweighted least-squares form (each |r| term is majorised by r^2 / 2|r0|), which needs tens of
Jacobian evaluations instead of hundreds of gradient steps.

Deviations: the samples are drawn once (seeded) instead of at every step, so E is a fixed,
deterministic function; maps with very many observations are fitted on a seeded subset of
``max_points`` of them (the paper fits all points at every step).
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import List, Optional

import numpy as np

from ..errors import AirmapInputError
from ..progress import Progress, ensure
from .sampling import nonsurface_samples

GRAD_WEIGHT = 0.1     # lambda of the df/dz = 1 term
LATENT_WEIGHT = 1e-3  # L1 latent prior weight at inference (training uses the L2 norm)
MAX_POINTS = 2048
MIN_POINTS = 3


@dataclass
class FitProblem:
    """The fixed point sets of one latent fit."""

    surface: np.ndarray   # (N, 3) observations in the cube
    samples: np.ndarray   # (M, 3) non-surface samples (local + global)

    @classmethod
    def build(cls, points: np.ndarray, seed: int = 0, max_points: int = MAX_POINTS) -> "FitProblem":
        points = np.asarray(points, np.float32)
        if len(points) < MIN_POINTS:
            raise AirmapInputError(f"HF-SDF needs at least {MIN_POINTS} observations, got {len(points)}: "
                                   "use a layer with more valid cells or stations.")
        rng = np.random.default_rng(seed)
        if len(points) > max_points:
            points = points[np.sort(rng.choice(len(points), max_points, replace=False))]
        return cls(points, nonsurface_samples(points, rng))


@dataclass
class FitResult:
    latent: np.ndarray
    loss: float
    history: List[float] = field(default_factory=list)
    seconds: float = 0.0
    jacobians: int = 0       # Jacobian evaluations (each ~2L forward passes per point)
    evaluations: int = 0     # loss evaluations (value + df/dz)


def initial_latent(latent_dim: int, seed: int = 0) -> np.ndarray:
    """The paper's start: N(0, std 1/L)."""
    return np.random.default_rng(seed).normal(0.0, 1.0 / latent_dim, latent_dim)


def map_loss(decoder, latent: np.ndarray, problem: FitProblem) -> float:
    """E(z) for the fixed point sets of ``problem``."""
    f_o, fz_o = decoder.value_and_dz(latent, problem.surface)
    _, fz_s = decoder.value_and_dz(latent, problem.samples)
    return _loss(f_o.astype(np.float64), fz_o.astype(np.float64), fz_s.astype(np.float64), latent)


def _loss(f_o, fz_o, fz_s, latent) -> float:
    return float(np.mean(np.abs(f_o))
                 + GRAD_WEIGHT * (np.mean((fz_s - 1.0) ** 2) + np.mean((fz_o - 1.0) ** 2))
                 + LATENT_WEIGHT * np.mean(np.abs(latent)))


def fit_latent(decoder, points: np.ndarray, *, seed: int = 0, max_points: int = MAX_POINTS,
               iterations: int = 40, rtol: float = 1e-5, latent0: Optional[np.ndarray] = None,
               progress: Optional[Progress] = None) -> FitResult:
    """Levenberg-Marquardt / IRLS minimisation of E(z) for observations ``points`` (N, 3)."""
    progress = ensure(progress)
    start = time.perf_counter()
    problem = FitProblem.build(points, seed, max_points)
    L = decoder.latent_dim
    z = initial_latent(L, seed) if latent0 is None else np.asarray(latent0, np.float64).copy()
    n_o, n_s = len(problem.surface), len(problem.samples)
    eps_f, eps_z = 1e-5, 1e-4
    mu = 1e-3
    result = FitResult(z, np.inf)
    energy = map_loss(decoder, z, problem)
    result.evaluations += 1
    result.history.append(energy)
    for it in range(iterations):
        progress.set(it / iterations)
        f_o, fz_o, J_o, Jz_o = decoder.jacobian(z, problem.surface)
        _, fz_s, _, Jz_s = decoder.jacobian(z, problem.samples)
        result.jacobians += 1
        # IRLS weights: |r| <= r^2 / (2|r0|) + |r0| / 2, tight at r0, same gradient there.
        w_f = 1.0 / (n_o * np.maximum(np.abs(f_o), eps_f))
        w_z = LATENT_WEIGHT / (L * np.maximum(np.abs(z), eps_z))
        g = (J_o.T @ np.sign(f_o)) / n_o \
            + 2 * GRAD_WEIGHT * (Jz_s.T @ (fz_s - 1.0) / n_s + Jz_o.T @ (fz_o - 1.0) / n_o) \
            + LATENT_WEIGHT * np.sign(z) / L
        H = (J_o.T * w_f) @ J_o \
            + 2 * GRAD_WEIGHT * ((Jz_s.T @ Jz_s) / n_s + (Jz_o.T @ Jz_o) / n_o) \
            + np.diag(w_z)
        diag = np.diag(H).copy() + 1e-12
        improved = False
        for _ in range(8):
            try:
                step = np.linalg.solve(H + mu * np.diag(diag), -g)
            except np.linalg.LinAlgError:
                mu *= 10.0
                continue
            trial = z + step
            e_trial = map_loss(decoder, trial, problem)
            result.evaluations += 1
            if e_trial < energy:
                improved = True
                gain = (energy - e_trial) / max(energy, 1e-30)
                z, energy = trial, e_trial
                mu = max(mu / 3.0, 1e-7)
                break
            mu *= 4.0
        result.history.append(energy)
        if not improved or gain < rtol:
            break
    progress.set(1.0)
    result.latent, result.loss = z.astype(np.float32), energy
    result.seconds = time.perf_counter() - start
    return result
