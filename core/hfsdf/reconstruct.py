"""HF-SDF end to end: observations (raster cells or stations) -> a map on any grid.

    obs = Observations.from_raster(band, grid)            # or .from_stations(stations)
    result = reconstruct(obs, out_grid)                   # coded mode, root-finding read-out
    result.values, result.confidence

Coded mode needs only the ONNX model (latent fitted in numpy, core/hfsdf/latent.py).
Single-map mode trains a small network with torch (models/hfsdf/single_map.py) and explains
how to install torch when it is absent.
"""
from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from typing import Optional, Tuple

import numpy as np

from ..errors import AirmapInputError
from ..finetune import TORCH_INSTALL
from ..grid import Grid
from ..progress import Progress, ensure
from .cube import Cube
from .latent import MAX_POINTS, MIN_POINTS, FitResult, fit_latent
from .prior import HeightPrior
from .readout import ReadoutStats, marching_cubes, root_find

MODES = ("coded", "single-map")
SURFACES = ("root", "marching-cubes")
DEFAULT_MODEL = os.path.normpath(os.path.join(os.path.dirname(__file__), "..", "..", "models", "hfsdf",
                                              "hfsdf.onnx"))
READOUT_BLOCK = 65536  # pixels per root-finding block: bounds memory for any output size (the decoder
#                        holds a few hundred bytes per query point: ~0.1 GB per block)
TORCH_HINT = ("Single-map mode trains a network with PyTorch, which is not installed in QGIS's Python. "
              "In QGIS use Plugins > airmap > Install PyTorch (training and fine-tuning); outside QGIS, "
              + TORCH_INSTALL + "; or choose MODE 'coded', which needs only the shipped ONNX model.")


@dataclass
class Observations:
    """Point observations of one map and the horizontal extent the cube spans."""

    x: np.ndarray
    y: np.ndarray
    values: np.ndarray
    bounds: Tuple[float, float, float, float]

    def __post_init__(self):
        self.x = np.asarray(self.x, np.float64).ravel()
        self.y = np.asarray(self.y, np.float64).ravel()
        self.values = np.asarray(self.values, np.float64).ravel()
        keep = np.isfinite(self.x) & np.isfinite(self.y) & np.isfinite(self.values)
        self.x, self.y, self.values = self.x[keep], self.y[keep], self.values[keep]
        if self.values.size == 0:
            raise AirmapInputError("The input has no valid value (empty layer or all no-data): choose a "
                                   "layer, band or FIELD with numbers inside the extent.")
        if self.values.size < MIN_POINTS:
            raise AirmapInputError(f"HF-SDF needs at least {MIN_POINTS} valid observations, got "
                                   f"{self.values.size}: use a raster with more valid cells or more stations.")

    @classmethod
    def from_raster(cls, data: np.ndarray, grid: Grid) -> "Observations":
        """Valid cells of one band (H, W) at their centres; the cube spans the raster's bounds."""
        data = np.asarray(data, np.float64)
        if data.ndim == 3:
            if data.shape[0] != 1:
                raise AirmapInputError("HF-SDF reconstructs one band at a time: choose a BAND.")
            data = data[0]
        if data.shape != grid.shape:
            raise AirmapInputError(f"Band shape {data.shape} does not match its grid {grid.shape}.")
        gx, gy = grid.cell_centres()
        ok = np.isfinite(data)
        return cls(gx[ok], gy[ok], data[ok], grid.bounds)

    @classmethod
    def from_stations(cls, stations, bounds: Optional[Tuple[float, float, float, float]] = None
                      ) -> "Observations":
        """Station values; the cube spans their bounding box (or ``bounds``). Stations sharing a
        location are averaged, since a surface has one height per point."""
        x, y, v = (np.asarray(a, np.float64) for a in (stations.x, stations.y, stations.values))
        ok = np.isfinite(x) & np.isfinite(y) & np.isfinite(v)
        x, y, v = x[ok], y[ok], v[ok]
        if x.size:
            keys, inverse = np.unique(np.stack([x, y], 1), axis=0, return_inverse=True)
            inverse = inverse.ravel()
            v = np.bincount(inverse, v) / np.bincount(inverse)
            x, y = keys[:, 0], keys[:, 1]
        if bounds is None:
            bounds = (x.min(), y.min(), x.max(), y.max()) if x.size else (0.0, 0.0, 1.0, 1.0)
        return cls(x, y, v, tuple(float(b) for b in bounds))

    def cube(self) -> Cube:
        return Cube.fit(self.bounds, self.values)

    def cropped(self, bounds: Tuple[float, float, float, float], margin: float = 0.25) -> "Observations":
        """Observations within ``bounds`` grown by ``margin`` of its size on each side, when that is
        smaller than the observations' own extent: a map of one region from a global field is
        fitted on that region (the cube then spans it), not on the whole globe."""
        x0, y0, x1, y1 = bounds
        mx, my = margin * (x1 - x0), margin * (y1 - y0)
        box = (max(x0 - mx, self.bounds[0]), max(y0 - my, self.bounds[1]),
               min(x1 + mx, self.bounds[2]), min(y1 + my, self.bounds[3]))
        if box == tuple(self.bounds) or box[0] >= box[2] or box[1] >= box[3]:
            return self
        keep = (self.x >= box[0]) & (self.x <= box[2]) & (self.y >= box[1]) & (self.y <= box[3])
        return Observations(self.x[keep], self.y[keep], self.values[keep], box)

    def reprojected(self, src_crs: Optional[str], dst_crs: Optional[str]) -> "Observations":
        """The same observations in ``dst_crs`` (points and the cube's bounds transformed)."""
        if not src_crs or not dst_crs or src_crs == dst_crs:
            return self
        from rasterio.crs import CRS
        from rasterio.warp import transform, transform_bounds

        try:
            src, dst = CRS.from_user_input(src_crs), CRS.from_user_input(dst_crs)
        except Exception as exc:  # rasterio raises CRSError for unknown definitions
            raise AirmapInputError(f"Cannot use the CRS ({exc}): set a valid CRS on the input and TARGET_CRS.") from exc
        if src == dst:
            return self
        x, y = transform(src, dst, self.x, self.y)
        bounds = transform_bounds(src, dst, *self.bounds, densify_pts=21)
        return Observations(np.asarray(x), np.asarray(y), self.values, tuple(float(b) for b in bounds))


@dataclass
class HfsdfResult:
    values: np.ndarray                     # (H, W) float32, input units
    confidence: Optional[np.ndarray]       # (H, W) float32 |f| at the surface, input units
    cube: Cube
    latent: Optional[np.ndarray] = None
    fit: Optional[FitResult] = None
    info: dict = field(default_factory=dict)


def load_decoder(model_path: Optional[str] = None, device: str = "auto", threads: Optional[int] = None):
    """The coded ONNX decoder (validated card of task 'hfsdf')."""
    from ..onnx_runtime import load_model
    from .decoder import OnnxDecoder

    return OnnxDecoder(load_model(model_path or DEFAULT_MODEL, task="hfsdf", device=device, threads=threads))


def single_map_backend():
    """models/hfsdf/single_map.py, or a clear AirmapInputError when torch is missing."""
    try:
        from ...models.hfsdf import single_map
    except ImportError as exc:
        raise AirmapInputError(TORCH_HINT) from exc
    return single_map


def check_overlap(obs: Observations, grid: Grid) -> None:
    gx0, gy0, gx1, gy1 = grid.bounds
    ox0, oy0, ox1, oy1 = obs.bounds
    if gx1 < ox0 or gx0 > ox1 or gy1 < oy0 or gy0 > oy1:
        raise AirmapInputError("The output EXTENT does not overlap the input data: choose an extent "
                               "that covers (part of) the input, in the input's CRS.")


def reconstruct(obs: Observations, grid: Grid, *, mode: str = "coded", surface: str = "root",
                model_path: Optional[str] = None, device: str = "auto", threads: Optional[int] = None,
                confidence: bool = False, seed: int = 0, max_points: int = MAX_POINTS,
                iterations: int = 20, steps: int = 8, mc_levels: int = 128,
                single_map_iterations: int = 800, single_map_width: int = 128,
                single_map_loss: str = "height", decoder=None,
                progress: Optional[Progress] = None, sink=None) -> HfsdfResult:
    """Fit the surface to ``obs`` and read it out on ``grid`` (cell centres).

    ``sink``: ``sink(first_row, values rows, |f| rows or None)`` receives the map in row
    strips as they are read out (e.g. file writers) and the result holds no arrays; the
    root-finding read-out then never holds the whole map."""
    progress = ensure(progress)
    if mode not in MODES:
        raise AirmapInputError(f"MODE must be one of {', '.join(MODES)}, got '{mode}'.")
    if surface not in SURFACES:
        raise AirmapInputError(f"SURFACE must be one of {', '.join(SURFACES)}, got '{surface}'.")
    check_overlap(obs, grid)
    obs = obs.cropped(grid.bounds)
    cube = obs.cube()
    points = cube.lift(obs.x, obs.y, obs.values)
    info = {"mode": mode, "surface": surface, "observations": int(points.shape[0])}
    t0 = time.perf_counter()
    fit = None
    latent = None
    if mode == "coded":
        decoder = decoder or load_decoder(model_path, device, threads)
        progress.info(f"HF-SDF: fitting a {decoder.latent_dim}-d latent to {len(points)} observations")
        fit = fit_latent(decoder, points, seed=seed, max_points=max_points, iterations=iterations,
                         progress=progress.sub(0.0, 0.6))
        latent = fit.latent
        info.update(fit_loss=fit.loss, fit_jacobians=fit.jacobians)
    else:
        backend = single_map_backend()
        progress.info(f"HF-SDF: training a single-map network on {len(points)} observations (torch)")
        decoder = backend.fit_single_map(points, iterations=single_map_iterations, width=single_map_width,
                                         loss=single_map_loss, seed=seed, progress=progress.sub(0.0, 0.6))
    info["fit_seconds"] = time.perf_counter() - t0
    t1 = time.perf_counter()
    to_map = lambda z, residual: (cube.value_from_cube(z).astype(np.float32),
                                  None if residual is None else cube.distance_from_cube(residual).astype(np.float32))
    strips = None if sink is None else (lambda r0, z, residual: sink(r0, *to_map(z, residual)))
    z, residual, stats = read_surface(decoder, latent, cube, grid, surface=surface, confidence=confidence,
                                      steps=steps, mc_levels=mc_levels, prior=HeightPrior(points),
                                      progress=progress.sub(0.6, 1.0), sink=strips)
    info.update(readout_seconds=time.perf_counter() - t1, queries=stats.queries)
    if sink is not None:
        return HfsdfResult(None, None, cube, latent, fit, info)
    values, conf = to_map(z, residual)
    return HfsdfResult(values, conf, cube, latent, fit, info)


def read_surface(decoder, latent, cube: Cube, grid: Grid, *, surface: str = "root", confidence: bool = False,
                 steps: int = 8, mc_levels: int = 128, prior: Optional[HeightPrior] = None,
                 progress: Optional[Progress] = None, sink=None):
    """Heights (H, W) in the cube for the cell centres of ``grid``, |f| there if asked, stats.

    ``prior``: where root finding starts per pixel (core/hfsdf/prior.py); z = 0 without it.
    ``sink``: ``sink(first_row, heights, |f| or None)`` gets row strips instead (heights and
    |f| returned as None); marching cubes fills gaps over the whole map, so that read-out is
    made whole and then handed on in strips."""
    progress = ensure(progress)
    stats = ReadoutStats()
    xs = cube.x_to_cube(grid.x_centres())
    ys = cube.y_to_cube(grid.y_centres())
    h, w = len(ys), len(xs)
    residual = None
    if surface == "root":
        keep = sink is None
        z = np.empty(h * w) if keep else None
        residual = np.empty(h * w) if confidence and keep else None
        rows = max(1, READOUT_BLOCK // w)
        for r0 in range(0, h, rows):
            r1 = min(h, r0 + rows)
            gx, gy = np.meshgrid(xs, ys[r0:r1])
            xy = np.stack([gx.ravel(), gy.ravel()], 1)
            z0 = 0.0 if prior is None else prior(xy)
            zb, rb = root_find(decoder, latent, xy, steps=steps, z0=z0, with_residual=confidence, stats=stats,
                               progress=progress.sub(r0 / h, r1 / h))
            if not keep:
                sink(r0, zb.reshape(r1 - r0, w), rb.reshape(r1 - r0, w) if confidence else None)
                continue
            z[r0 * w:r1 * w] = zb
            if confidence:
                residual[r0 * w:r1 * w] = rb
        if not keep:
            progress.set(1.0)
            return None, None, stats
        z = z.reshape(h, w)
        residual = None if residual is None else residual.reshape(h, w)
    else:
        z = marching_cubes(decoder, latent, xs, ys, levels=mc_levels, stats=stats,
                           progress=progress.sub(0.0, 0.9 if confidence else 1.0))
        if confidence:
            gx, gy = np.meshgrid(xs, ys)
            pts = np.stack([gx.ravel(), gy.ravel(), z.ravel()], 1).astype(np.float32)
            residual = np.abs(decoder.value(latent, pts).astype(np.float64)).reshape(h, w)
            stats.queries += pts.shape[0]
        if sink is not None:
            rows = max(1, READOUT_BLOCK // w)
            for r0 in range(0, h, rows):
                sink(r0, z[r0:r0 + rows], None if residual is None else residual[r0:r0 + rows])
            z = residual = None
    progress.set(1.0)
    return z, residual, stats
