"""The land surface of a scenario: terrain and urban fraction, generated or given.

Generated relief has lowland plains, basins and mountain ranges; generated cities cluster on
flat low ground, follow a heavy-tailed size distribution, and are linked by road corridors.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import numpy as np

from ..errors import AirmapInputError
from .fields import fractal_field, gaussian_field, rasterise_segment, smooth


@dataclass
class Surface:
    dem: np.ndarray      # (H, W) float32, metres above sea level
    urban: np.ndarray    # (H, W) float32 in [0, 1]
    roads: np.ndarray    # (H, W) float32 in [0, 1]: road-corridor share of traffic (0 if unknown)


def generate_terrain(shape, dx: float, rng: np.random.Generator) -> np.ndarray:
    """Relief with a low plain, hills, a few ranges and the basins they enclose (metres)."""
    h, w = shape
    km = dx / 1000.0
    # Broad elevation trend: part of the domain is a plain near sea level, part an upland.
    broad = gaussian_field(shape, 250.0 / km, rng)
    upland = np.clip(0.5 + 0.6 * broad, 0.0, 1.0) ** 2 * 1200.0
    # Hill texture, stronger on the upland.
    hills = fractal_field(shape, rng, beta=3.2, largest_cells=200.0 / km)
    relief = upland + (60.0 + 0.35 * upland) * hills
    # Mountain ranges: ridges along random gently bent lines.
    ranges = np.zeros(shape)
    n_ranges = max(1, int(round(rng.uniform(2, 5) * h * w * km * km / 1.6e6)))
    rows, cols = np.mgrid[0:h, 0:w]
    for _ in range(n_ranges):
        length = rng.uniform(150, 500) / km
        angle = rng.uniform(0, np.pi)
        r0, c0 = rng.uniform(0, h), rng.uniform(0, w)
        half_width = rng.uniform(8, 25) / km
        height = rng.uniform(600, 2200)
        t = np.linspace(-0.5, 0.5, 24)
        bend = rng.uniform(-0.15, 0.15) * length
        pr = r0 + t * length * np.sin(angle) + bend * (1 - 4 * t ** 2) * np.cos(angle)
        pc = c0 + t * length * np.cos(angle) - bend * (1 - 4 * t ** 2) * np.sin(angle)
        dist2 = np.full(shape, np.inf)
        for r, c in zip(pr, pc):
            np.minimum(dist2, (rows - r) ** 2 + (cols - c) ** 2, out=dist2)
        ranges = np.maximum(ranges, height * np.exp(-dist2 / (2 * half_width ** 2)))
    roughness = 0.75 + 0.25 * fractal_field(shape, rng, beta=2.6, largest_cells=60.0 / km)
    dem = relief + ranges * np.clip(roughness, 0.3, 1.3)
    dem = smooth(dem, 0.6)
    return np.clip(dem - np.percentile(dem, 5), 0.0, None).astype(np.float32)


def generate_urban(dem: np.ndarray, dx: float, rng: np.random.Generator,
                   cities_per_10k_km2: float = 3.0):
    """Urban fraction from clustered cities on flat, low land, plus road corridors.

    Returns (urban, roads), both (H, W) float32 in [0, 1].
    """
    h, w = dem.shape
    km = dx / 1000.0
    area = h * w * km * km
    n_cities = max(2, int(rng.poisson(cities_per_10k_km2 * area / 1e4)))
    # Suitability: low and flat ground, with some randomness for history and rivers.
    slope = np.hypot(*np.gradient(smooth(dem.astype(np.float64), 1.0), dx))
    suit = np.exp(-dem / 400.0) * np.exp(-slope / 0.01)
    suit *= np.exp(0.8 * gaussian_field(dem.shape, 40.0 / km, rng))
    suit[:2, :] = suit[-2:, :] = 0.0
    suit[:, :2] = suit[:, -2:] = 0.0
    p = suit.ravel() / suit.sum()
    centres = rng.choice(h * w, size=n_cities, replace=False, p=p)
    crow, ccol = np.divmod(centres, w)
    # Zipf-like sizes: a few big cities, many small towns. ``sigma`` is the Gaussian width of
    # the built-up area (km); a town smaller than a cell is spread over one cell with the
    # fraction it really covers, so small towns do not vanish between cell centres.
    rank = np.arange(1, n_cities + 1)
    sigma_km = np.clip(16.0 * rank ** -0.5 * rng.lognormal(0, 0.25, n_cities), 1.0, 25.0)
    rng.shuffle(sigma_km)
    rows, cols = np.mgrid[0:h, 0:w]
    urban = np.zeros((h, w))
    texture = np.exp(0.3 * gaussian_field((h, w), 3.0 / km, rng))
    for r, c, sig in zip(crow, ccol, sigma_km):
        width = max(sig / km, 0.6)
        peak = 0.92 * min(1.0, (sig / km / width) ** 2)
        d2 = (rows - r) ** 2 + (cols - c) ** 2
        urban = np.maximum(urban, peak * np.exp(-d2 / (2 * width ** 2)))
        # Satellite towns around the larger cities.
        for _ in range(int(sig / 5.0)):
            ang, dist = rng.uniform(0, 2 * np.pi), rng.uniform(2.0, 4.5) * sig / km
            sr, sc = r + dist * np.sin(ang), c + dist * np.cos(ang)
            swidth = max(sig / km * rng.uniform(0.2, 0.4), 0.6)
            urban = np.maximum(urban, 0.6 * np.exp(-((rows - sr) ** 2 + (cols - sc) ** 2)
                                                   / (2 * swidth ** 2)))
    urban = urban * texture
    # Villages: a thin, even spread of settlement over the farmland of the plains.
    villages = 0.035 * np.clip(suit / np.quantile(suit, 0.7), 0.0, 2.0) ** 0.5
    urban = np.maximum(urban, villages * texture)
    # Road corridors: every city linked to its two nearest neighbours.
    roads = np.zeros((h, w))
    pts = np.stack([crow, ccol], axis=1).astype(float)
    for i in range(n_cities):
        d = np.hypot(*(pts - pts[i]).T)
        for j in np.argsort(d)[1:3]:
            rasterise_segment(roads, pts[i, 0], pts[i, 1], pts[j, 0], pts[j, 1], 1.0)
    roads = np.clip(smooth(roads, 0.5) * 2.0, 0.0, 1.0)
    urban = np.clip(np.maximum(urban, 0.08 * roads), 0.0, 1.0)
    return urban.astype(np.float32), roads.astype(np.float32)


def prepare_surface(shape, dx: float, rng: np.random.Generator, dem: Optional[np.ndarray] = None,
                    urban: Optional[np.ndarray] = None, cities_per_10k_km2: float = 3.0) -> Surface:
    """Use the given rasters where present and generate the rest.

    The random draws happen in the same order whether or not a raster is given, so giving a
    DEM does not reshuffle the weather of the same seed.
    """
    terrain_rng, urban_rng = (np.random.default_rng(s) for s in rng.integers(0, 2 ** 63, 2))
    if dem is None:
        dem_arr = generate_terrain(shape, dx, terrain_rng)
    else:
        dem_arr = _checked(dem, shape, "DEM")
        # No-data (often the sea) counts as sea level.
        dem_arr = np.where(np.isfinite(dem_arr), dem_arr, 0.0).astype(np.float32)
    if urban is None:
        urban_arr, roads = generate_urban(dem_arr, dx, urban_rng, cities_per_10k_km2)
    else:
        urban_arr = _checked(urban, shape, "URBAN")
        urban_arr = np.where(np.isfinite(urban_arr), urban_arr, 0.0)
        if urban_arr.max() > 1.0 + 1e-6:
            if urban_arr.max() <= 100.0:
                urban_arr = urban_arr / 100.0  # given in percent
            else:
                raise AirmapInputError("The URBAN raster must hold an urban fraction in 0..1 "
                                       "(or percent 0..100); rescale it first.")
        if urban_arr.min() < 0:
            raise AirmapInputError("The URBAN raster has negative values: it must hold an urban "
                                   "fraction in 0..1.")
        urban_arr = urban_arr.astype(np.float32)
        roads = np.zeros(shape, np.float32)
    return Surface(dem=dem_arr, urban=urban_arr, roads=roads)


def _checked(array: np.ndarray, shape, name: str) -> np.ndarray:
    array = np.asarray(array, dtype=np.float32)
    if array.ndim == 3 and array.shape[0] == 1:
        array = array[0]
    if array.shape != tuple(shape):
        raise AirmapInputError(f"The {name} raster has {array.shape} cells but the simulation "
                               f"grid has {tuple(shape)}: give rasters on the same grid.")
    if not np.isfinite(array).any():
        raise AirmapInputError(f"The {name} raster holds only no-data: choose another raster.")
    return array
