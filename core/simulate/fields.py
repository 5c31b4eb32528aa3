"""Smooth random fields and small raster helpers shared by the surface and weather generators.

Everything here is deterministic for a given ``numpy.random.Generator`` state, so a seed gives
the same scenario bytes on every run.
"""
from __future__ import annotations

import numpy as np
from scipy import ndimage


def gaussian_field(shape, length_cells: float, rng: np.random.Generator) -> np.ndarray:
    """A zero-mean, unit-variance random field with Gaussian correlation of ``length_cells``.

    Built in Fourier space so the cost does not grow with the correlation length; the field
    is generated on a padded domain so that it does not wrap around at the edges.
    """
    h, w = shape
    pad = int(min(3 * length_cells, 4 * max(h, w)))
    ph, pw = h + pad, w + pad
    noise = rng.standard_normal((ph, pw))
    ky = np.fft.fftfreq(ph)[:, None]
    kx = np.fft.rfftfreq(pw)[None, :]
    # Gaussian spectrum: exp(-(2*pi*k*L)^2 / 2) mirrors a Gaussian kernel of std L cells.
    spectrum = np.exp(-0.5 * (2 * np.pi * length_cells) ** 2 * (kx ** 2 + ky ** 2))
    field = np.fft.irfft2(np.fft.rfft2(noise) * spectrum, s=(ph, pw))[:h, :w]
    return _standardise(field)


def fractal_field(shape, rng: np.random.Generator, beta: float = 3.0,
                  largest_cells: float | None = None) -> np.ndarray:
    """Zero-mean, unit-variance field with a power-law spectrum k^-beta (relief-like texture)."""
    h, w = shape
    ph, pw = 2 * h, 2 * w
    noise = rng.standard_normal((ph, pw))
    ky = np.fft.fftfreq(ph)[:, None]
    kx = np.fft.rfftfreq(pw)[None, :]
    k = np.sqrt(kx ** 2 + ky ** 2)
    k_min = 1.0 / (largest_cells or max(h, w))
    amplitude = np.maximum(k, k_min) ** (-beta / 2.0)
    amplitude[0, 0] = 0.0
    field = np.fft.irfft2(np.fft.rfft2(noise) * amplitude, s=(ph, pw))[:h, :w]
    return _standardise(field)


def _standardise(field: np.ndarray) -> np.ndarray:
    field = field - field.mean()
    std = field.std()
    return field / std if std > 0 else field


def smooth(array: np.ndarray, sigma_cells: float) -> np.ndarray:
    """Gaussian smoothing with reflecting edges (no artificial drop-off at the border)."""
    if sigma_cells <= 0:
        return array.copy()
    return ndimage.gaussian_filter(array, sigma_cells, mode="reflect", truncate=3.0)


def rasterise_segment(mask: np.ndarray, r0: float, c0: float, r1: float, c1: float,
                      value: float) -> None:
    """Burn a straight line from (r0, c0) to (r1, c1) (cell units) into ``mask`` with max()."""
    n = int(np.ceil(2 * max(abs(r1 - r0), abs(c1 - c0)))) + 1
    rows = np.rint(np.linspace(r0, r1, n)).astype(int)
    cols = np.rint(np.linspace(c0, c1, n)).astype(int)
    ok = (rows >= 0) & (rows < mask.shape[0]) & (cols >= 0) & (cols < mask.shape[1])
    rows, cols = rows[ok], cols[ok]
    mask[rows, cols] = np.maximum(mask[rows, cols], value)
