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
    jacobians: int = 0       # Jacobian evaluations (each ~5 forward passes per point)
    evaluations: int = 0     # loss evaluations (value + df/dz)


def initial_latent(latent_dim: int, seed: int = 0) -> np.ndarray:
    """The paper's start: N(0, std 1/L)."""
    return np.random.default_rng(seed).normal(0.0, 1.0 / latent_dim, latent_dim)


def map_loss(decoder, latent: np.ndarray, problem: FitProblem) -> float:
    """E(z) for the fixed point sets of ``problem``."""
    return _loss(*_evaluate(decoder, latent, problem), latent)


def _evaluate(decoder, latent, problem):
    f_o, fz_o = decoder.value_and_dz(latent, problem.surface)
    _, fz_s = decoder.value_and_dz(latent, problem.samples)
    return f_o.astype(np.float64), fz_o.astype(np.float64), fz_s.astype(np.float64)


def _abs(x, delta):
    """|x| smoothed to sqrt(x^2 + delta^2) - delta (exactly |x| for delta = 0)."""
    return np.sqrt(x * x + delta * delta) - delta if delta > 0 else np.abs(x)


def _loss(f_o, fz_o, fz_s, latent, delta: float = 0.0) -> float:
    return float(np.mean(_abs(f_o, delta))
                 + GRAD_WEIGHT * (np.mean((fz_s - 1.0) ** 2) + np.mean((fz_o - 1.0) ** 2))
                 + LATENT_WEIGHT * np.mean(_abs(np.asarray(latent, np.float64), delta)))


def fit_latent(decoder, points: np.ndarray, *, seed: int = 0, max_points: int = MAX_POINTS,
               iterations: int = 20, rtol: float = 1e-4, latent0: Optional[np.ndarray] = None,
               inner: int = 30, jac_samples: Optional[int] = None, delta0: float = 1e-2,
               delta_min: float = 1e-5, progress: Optional[Progress] = None) -> FitResult:
    """Minimise E(z) for observations ``points`` (N, 3) with the ONNX Jacobians.

    Prox-linear Levenberg-Marquardt with continuation: the two |.| terms are smoothed to
    sqrt(x^2 + delta^2) - delta, delta shrinking tenfold (1e-2 -> 1e-5) whenever progress at the
    current delta stalls; without smoothing, observations that the fit interpolates exactly act
    as equality constraints and the iteration stalls early. Each outer iteration costs one
    Jacobian evaluation; the linearised model (smoothed L1 + quadratic + damping) is minimised by
    ``inner`` IRLS sweeps that query no network; the step is accepted if the smoothed E falls
    (damping shrinks), else the damping grows and the model is solved again.
    ``jac_samples`` (default: all) evaluates the df/dz Jacobian on a seeded subset of the samples
    only: half the cost per iteration, but an inexact model gradient. The reported loss is the
    exact E."""
    progress = ensure(progress)
    start = time.perf_counter()
    problem = FitProblem.build(points, seed, max_points)
    L = decoder.latent_dim
    z = initial_latent(L, seed) if latent0 is None else np.asarray(latent0, np.float64).copy()
    n_o, n_s = len(problem.surface), len(problem.samples)
    jac_pick = np.random.default_rng(seed + 7).permutation(n_s)[:min(n_s, jac_samples or n_s)]
    jac_points = problem.samples[np.sort(jac_pick)]
    result = FitResult(z, np.inf)
    values = _evaluate(decoder, z, problem)
    result.evaluations += 1
    result.history.append(_loss(*values, z))
    delta = delta0
    energy = _loss(*values, z, delta)
    mu = 1e-3
    for it in range(iterations):
        progress.set(it / iterations)
        f_o, fz_o, J_o, Jz_o = decoder.jacobian(z, problem.surface)
        _, fz_s, _, Jz_s = decoder.jacobian(z, jac_points)
        result.jacobians += 1
        m = len(jac_points)
        # Quadratic (exact) part of the linearised model: the lambda-weighted (df/dz - 1)^2 terms.
        Q = 2 * GRAD_WEIGHT * ((Jz_s.T @ Jz_s) / m + (Jz_o.T @ Jz_o) / n_o)
        q = 2 * GRAD_WEIGHT * (Jz_s.T @ (fz_s - 1.0) / m + Jz_o.T @ (fz_o - 1.0) / n_o)
        scale = np.diag(Q) + np.einsum("ij,ij->j", J_o, J_o) / n_o + 1e-12
        accepted, gain = False, 0.0
        for _ in range(6):
            step = _solve_model(f_o, J_o, Q, q, z, mu * scale, n_o, L, inner, delta)
            trial = z + step
            trial_values = _evaluate(decoder, trial, problem)
            result.evaluations += 1
            e_trial = _loss(*trial_values, trial, delta)
            if e_trial < energy:
                gain = (energy - e_trial) / max(energy, 1e-30)
                z, energy, values, accepted = trial, e_trial, trial_values, True
                mu = max(mu / 3.0, 1e-9)
                break
            mu *= 5.0
        result.history.append(_loss(*values, z))
        if not accepted or gain < rtol:
            if delta <= delta_min:
                break
            delta = max(delta / 10.0, delta_min)   # sharpen the smoothing and go on
            energy = _loss(*values, z, delta)
            mu = 1e-3
    progress.set(1.0)
    result.latent, result.loss = z.astype(np.float32), result.history[-1]
    result.seconds = time.perf_counter() - start
    return result


def _solve_model(f, J, Q, q, z, damping, n_o, L, sweeps, delta):
    """argmin_d mean|f + J d|_delta + d'Qd/2 + q'd + alpha mean|z + d|_delta + d'diag(damping)d/2
    by IRLS: each smoothed |r| is majorised by (r^2 + delta^2) / (2 sqrt(r0^2 + delta^2)) + const.
    Q, q hold the quadratic df/dz terms."""
    eps = max(delta, 1e-9)
    d = np.zeros_like(z)
    base = Q + np.diag(damping)
    for _ in range(sweeps):
        r = f + J @ d
        w = 1.0 / (n_o * np.sqrt(r * r + eps * eps))
        u = z + d
        v = LATENT_WEIGHT / (L * np.sqrt(u * u + eps * eps))
        A = base + (J.T * w) @ J + np.diag(v)
        b = -(J.T @ (w * f) + q + v * z)
        try:
            d_new = np.linalg.solve(A, b)
        except np.linalg.LinAlgError:
            d_new = np.linalg.lstsq(A, b, rcond=None)[0]
        if np.max(np.abs(d_new - d)) < 1e-10:
            return d_new
        d = d_new
    return d
