"""Numerics of the transport step: a non-divergent surface wind on a staggered grid, and
flux-form, flux-limited advection plus diffusion that conserves mass exactly.

Grid conventions (an Arakawa C-grid, rows run north -> south as in every raster):
- ``u_face`` (H, W+1): eastward wind on the west/east faces; column j is the west face of cell j.
- ``v_face`` (H+1, W): northward wind on the north/south faces; row i is the north face of row i.
- The tracer state lives in a padded array (N, H+2, W+2) whose outer ring holds the regional
  background: that ring is what flows in through the boundary, and keeping it in the same array
  spares a copy per sub-step.
"""
from __future__ import annotations

import math

import numpy as np
from scipy import fft


def face_winds_from_centres(u_c: np.ndarray, v_c: np.ndarray):
    """Average cell-centre winds onto the faces (edge faces take the edge cell's wind)."""
    h, w = u_c.shape
    u_face = np.empty((h, w + 1), dtype=np.float64)
    u_face[:, 1:-1] = 0.5 * (u_c[:, :-1] + u_c[:, 1:])
    u_face[:, 0] = u_c[:, 0]
    u_face[:, -1] = u_c[:, -1]
    v_face = np.empty((h + 1, w), dtype=np.float64)
    v_face[1:-1, :] = 0.5 * (v_c[:-1, :] + v_c[1:, :])
    v_face[0, :] = v_c[0, :]
    v_face[-1, :] = v_c[-1, :]
    return u_face, v_face


def centre_winds_from_faces(u_face: np.ndarray, v_face: np.ndarray):
    return 0.5 * (u_face[:, :-1] + u_face[:, 1:]), 0.5 * (v_face[:-1, :] + v_face[1:, :])


def divergence(u_face: np.ndarray, v_face: np.ndarray, dx: float) -> np.ndarray:
    """Discrete divergence per cell (1/s): east minus west plus north minus south face."""
    return (u_face[:, 1:] - u_face[:, :-1] + v_face[:-1, :] - v_face[1:, :]) / dx


def make_nondivergent(u_face: np.ndarray, v_face: np.ndarray, dx: float):
    """Remove the divergent part of a face wind field (Helmholtz projection).

    Why: the model carries surface concentration with a wind that terrain has slowed and turned;
    a divergent wind would pile mass up where the flow slows. After projection a uniform field
    stays uniform and the flux-form scheme conserves mass. The boundary normal winds are first
    balanced (net inflow zero), then the interior faces are corrected by the gradient of a
    potential solved with Neumann boundaries (a DCT-II diagonalises that Laplacian exactly).
    """
    u_face = np.array(u_face, dtype=np.float64)
    v_face = np.array(v_face, dtype=np.float64)
    h, w = u_face.shape[0], v_face.shape[1]
    # Outward normal winds on the boundary; subtract their mean so the net outflow is zero.
    outward = np.concatenate([-u_face[:, 0], u_face[:, -1], v_face[0, :], -v_face[-1, :]])
    excess = outward.mean()
    u_face[:, 0] += excess
    u_face[:, -1] -= excess
    v_face[0, :] -= excess
    v_face[-1, :] += excess
    div = divergence(u_face, v_face, dx)
    eig = ((2 * np.cos(np.pi * np.arange(h) / h) - 2)[:, None]
           + (2 * np.cos(np.pi * np.arange(w) / w) - 2)[None, :]) / dx ** 2
    eig[0, 0] = 1.0
    spectral = fft.dctn(div, type=2, norm="ortho") / eig
    spectral[0, 0] = 0.0
    phi = fft.idctn(spectral, type=2, norm="ortho")
    u_face[:, 1:-1] -= (phi[:, 1:] - phi[:, :-1]) / dx
    v_face[1:-1, :] -= (phi[:-1, :] - phi[1:, :]) / dx
    return u_face, v_face


def substeps_needed(u_face: np.ndarray, v_face: np.ndarray, diffusivity: float, dx: float,
                    dt: float, courant: float = 0.5) -> int:
    """Number of sub-steps that keeps the unsplit scheme positive and stable.

    The update of a cell is a convex combination of its neighbours when the sum of the
    outgoing Courant numbers and the diffusion numbers stays below one; ``courant`` leaves a
    margin for the second-order correction.
    """
    cx = np.abs(u_face).max() * dt / dx
    cy = np.abs(v_face).max() * dt / dx
    cd = 4.0 * diffusivity * dt / dx ** 2
    return max(1, int(math.ceil((cx + cy + cd) / courant)))


class Transport:
    """Advection-diffusion of N tracers for one wind field, repeated over sub-steps.

    Per hour the wind is fixed, so every quantity that depends only on it (upwind masks,
    Courant numbers, limiter coefficients) is computed once in ``__init__``.
    """

    def __init__(self, u_face: np.ndarray, v_face: np.ndarray, diffusivity: float, dx: float,
                 dt: float, courant: float = 0.5):
        self.nsub = substeps_needed(u_face, v_face, diffusivity, dx, dt, courant)
        self.dts = dt / self.nsub
        self.dx = float(dx)
        f32 = np.float32
        # Row-direction velocity: +row is southward, so it is minus the northward wind.
        a_x = u_face.astype(f32)
        a_y = (-v_face).astype(f32)
        self._x = self._coefficients(a_x, diffusivity)
        self._y = self._coefficients(a_y, diffusivity)

    def _coefficients(self, a: np.ndarray, diffusivity: float):
        courant = np.abs(a) * (self.dts / self.dx)
        positive = a > 0
        # Lax-Wendroff correction weight 0.5*(1-|c|) of the limited slope, times the velocity.
        correction = (0.5 * a * (1.0 - courant)).astype(np.float32)
        return a, positive, correction, np.float32(diffusivity / self.dx)

    @staticmethod
    def _face_flux(lo: np.ndarray, hi: np.ndarray, coeffs, axis: int) -> np.ndarray:
        """Flux (per unit length, tracer units x m/s) through faces between ``lo`` and ``hi``.

        ``lo``/``hi`` are the cells before/after each face along ``axis`` (including the
        background ring). Van Leer's limiter in harmonic-mean form keeps the scheme monotone;
        the slopes beyond the outermost faces are taken as zero, so boundary faces are upwind.
        """
        a, positive, correction, k_over_dx = coeffs
        d = hi - lo
        n = d.shape[axis]
        shape = list(d.shape)
        shape[axis] = n + 2
        dp = np.zeros(shape, dtype=d.dtype)
        dp[_along(axis, 1, n + 1)] = d
        prev = dp[_along(axis, 0, n + 1)]
        cur = dp[_along(axis, 1, n + 2)]
        # Harmonic mean of each face's jump and the jump of the face before it.
        prod = prev * cur
        denom = prev + cur
        np.copyto(denom, 1.0, where=prod <= 0)
        np.maximum(prod, 0.0, out=prod)
        harm = 2.0 * prod / denom
        # Face f: the limited slope of its upwind cell is harm[f] (flow towards +) or harm[f+1].
        upwind = np.where(positive, lo, hi)
        slope = np.where(positive, harm[_along(axis, 0, n)], harm[_along(axis, 1, n + 1)])
        return a * upwind + correction * slope - k_over_dx * d

    def run(self, state: np.ndarray) -> np.ndarray:
        """Advance the padded state (N, H+2, W+2) in place by one full step.

        Returns the net mass flux into the domain per tracer, integrated over the step, in
        tracer units x m² (multiply by the layer depth for mass).
        """
        inflow = np.zeros(state.shape[0], dtype=np.float64)
        inner = state[:, 1:-1, 1:-1]
        scale = np.float32(self.dts / self.dx)
        for _ in range(self.nsub):
            fx = self._face_flux(state[:, 1:-1, :-1], state[:, 1:-1, 1:], self._x, axis=2)
            fy = self._face_flux(state[:, :-1, 1:-1], state[:, 1:, 1:-1], self._y, axis=1)
            inflow += self.dts * self.dx * (
                fx[:, :, 0].sum(axis=1, dtype=np.float64) - fx[:, :, -1].sum(axis=1, dtype=np.float64)
                + fy[:, 0, :].sum(axis=1, dtype=np.float64) - fy[:, -1, :].sum(axis=1, dtype=np.float64))
            inner -= scale * (fx[:, :, 1:] - fx[:, :, :-1] + fy[:, 1:, :] - fy[:, :-1, :])
        return inflow


def _along(axis: int, start: int, stop: int):
    """Index tuple that slices [start:stop] along ``axis`` of a 3-D array."""
    index = [slice(None)] * 3
    index[axis] = slice(start, stop)
    return tuple(index)
