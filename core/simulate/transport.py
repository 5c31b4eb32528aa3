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
                    dt: float, limit: float = 0.5) -> int:
    """Number of sub-steps that keeps the unsplit scheme positive and stable.

    The unsplit update is the mean of an x-update and a y-update taken with twice the step;
    each of those is a 1-D TVD (hence positive) update while its Courant number plus twice its
    diffusion number stays below one. So max(Courant) + 2 * diffusion number <= 0.5 suffices.
    """
    cx = np.abs(u_face).max() * dt / dx
    cy = np.abs(v_face).max() * dt / dx
    cd = 2.0 * diffusivity * dt / dx ** 2
    return max(1, int(math.ceil((max(cx, cy) + cd) / limit - 1e-9)))


class Transport:
    """Advection-diffusion of N tracers for one wind field, repeated over sub-steps.

    The wind is fixed for an hour, so every coefficient that depends only on it is computed
    once here, and the work arrays are allocated once: re-allocating arrays of this size in
    every sub-step costs more than the arithmetic.
    """

    def __init__(self, u_face: np.ndarray, v_face: np.ndarray, diffusivity: float, dx: float,
                 dt: float, n_tracers: int = 1, limit: float = 0.5):
        self.nsub = substeps_needed(u_face, v_face, diffusivity, dx, dt, limit)
        self.dts = dt / self.nsub
        self.dx = float(dx)
        # Row-direction velocity: +row is southward, so it is minus the northward wind.
        self._x = _AxisFlux(np.asarray(u_face, np.float64), diffusivity, self.dx, self.dts,
                            n_tracers, axis=2)
        self._y = _AxisFlux(-np.asarray(v_face, np.float64), diffusivity, self.dx, self.dts,
                            n_tracers, axis=1)
        h, w = u_face.shape[0], v_face.shape[1]
        self._tend = np.empty((n_tracers, h, w), np.float32)
        self._tmp = np.empty((n_tracers, h, w), np.float32)

    def run(self, state: np.ndarray) -> np.ndarray:
        """Advance the padded state (N, H+2, W+2) in place by one full step.

        Returns the net inflow through the boundary per tracer, integrated over the step, in
        tracer units x m² (multiply by the layer depth for mass).
        """
        inflow = np.zeros(state.shape[0], dtype=np.float64)
        inner = state[:, 1:-1, 1:-1]
        scale = np.float32(self.dts / self.dx)
        edge = self.dts * self.dx
        tend, tmp = self._tend, self._tmp
        for _ in range(self.nsub):
            fx = self._x.flux(state[:, 1:-1, :-1], state[:, 1:-1, 1:])
            fy = self._y.flux(state[:, :-1, 1:-1], state[:, 1:, 1:-1])
            inflow += edge * (fx[:, :, 0].sum(axis=1, dtype=np.float64)
                              - fx[:, :, -1].sum(axis=1, dtype=np.float64)
                              + fy[:, 0, :].sum(axis=1, dtype=np.float64)
                              - fy[:, -1, :].sum(axis=1, dtype=np.float64))
            np.subtract(fx[:, :, 1:], fx[:, :, :-1], out=tend)
            np.subtract(fy[:, 1:, :], fy[:, :-1, :], out=tmp)
            tend += tmp
            tend *= scale
            inner -= tend
        return inflow


class _AxisFlux:
    """Face fluxes along one axis: upwind + van Leer-limited Lax-Wendroff correction + diffusion.

    Flux through a face between cells ``lo`` and ``hi`` (before/after it along the axis):
        F = a+ lo + a- hi + 0.5 a (1 - |c|) s_up - K (hi - lo) / dx
    where s_up is the limited slope of the upwind cell, the harmonic mean of the jumps on its
    two sides (van Leer's limiter). The diffusion term is folded into the lo/hi weights. Jumps
    beyond the outermost faces count as zero, so the boundary faces are plain upwind.
    """

    def __init__(self, a: np.ndarray, diffusivity: float, dx: float, dts: float,
                 n_tracers: int, axis: int):
        self.axis = axis
        courant = np.abs(a) * dts / dx
        k = diffusivity / dx
        positive = a > 0
        # The harmonic mean is computed without its factor 2; it is folded in here.
        correction = a * (1.0 - courant)
        f32 = np.float32
        self.w_lo = (np.where(positive, a, 0.0) + k).astype(f32)
        self.w_hi = (np.where(positive, 0.0, a) - k).astype(f32)
        self.w_slope_lo = np.where(positive, correction, 0.0).astype(f32)
        self.w_slope_hi = np.where(positive, 0.0, correction).astype(f32)
        n = a.shape[axis - 1]  # faces along the axis
        shape = (n_tracers,) + a.shape
        padded = list(shape)
        padded[axis] += 1
        self.n = n
        self.jumps = np.zeros(padded[:axis] + [n + 2] + padded[axis + 1:], f32)
        self.prod = np.empty(padded, f32)
        self.denom = np.empty(padded, f32)
        self.out = np.empty(shape, f32)
        self.tmp = np.empty(shape, f32)

    def flux(self, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
        ax, n = self.axis, self.n
        jumps, prod, denom, flux, tmp = self.jumps, self.prod, self.denom, self.out, self.tmp
        np.subtract(hi, lo, out=jumps[_along(ax, 1, n + 1)])
        prev = jumps[_along(ax, 0, n + 1)]
        cur = jumps[_along(ax, 1, n + 2)]
        np.multiply(prev, cur, out=prod)
        np.maximum(prod, 0.0, out=prod)
        np.add(prev, cur, out=denom)
        # Where the jumps differ in sign prod is 0 and the tiny offset avoids 0/0.
        denom += np.float32(1e-30)
        np.divide(prod, denom, out=prod)  # half the harmonic mean, signed like the jumps
        np.multiply(lo, self.w_lo, out=flux)
        np.multiply(hi, self.w_hi, out=tmp)
        flux += tmp
        np.multiply(prod[_along(ax, 0, n)], self.w_slope_lo, out=tmp)
        flux += tmp
        np.multiply(prod[_along(ax, 1, n + 1)], self.w_slope_hi, out=tmp)
        flux += tmp
        return flux


def _along(axis: int, start: int, stop: int):
    """Index tuple that slices [start:stop] along ``axis`` of a 3-D array."""
    index = [slice(None)] * 3
    index[axis] = slice(start, stop)
    return tuple(index)
