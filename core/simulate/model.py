"""The time loop of the simulator: hourly weather -> boundary-layer exchange -> transport ->
emission -> secondary formation -> removal, with a full mass budget.

State: two tracers (PM2.5 and a precursor gas in PM-equivalent ug/m3) well mixed in a boundary
layer of depth h(t), uniform over the domain; column mass per cell = concentration x h x area.
Keeping h uniform makes the surface concentration a simple, exact function of the column mass;
spatial differences in ventilation come from the wind (slow in basins and over rough ground).
"""
from __future__ import annotations

import math
from datetime import datetime
from typing import Optional, Tuple, Union

import numpy as np
from rasterio.crs import CRS

from ..errors import AirmapInputError
from ..grid import Grid
from ..progress import Progress, ensure
from .chemistry import Emissions, conversion_rate, wet_rate
from .config import SimConfig
from .meteorology import Weather
from .scenario import Scenario, hour_stamps
from .surface import prepare_surface
from .transport import Transport

# Generated domains sit in a local equal-area projection (metres); the centre is in the North
# China Plain only so that the map lands somewhere plausible - the terrain is invented.
GENERATED_CRS_PROJ = "+proj=laea +lat_0=35 +lon_0=115 +x_0=0 +y_0=0 +datum=WGS84 +units=m +no_defs"

PM, GAS = 0, 1


def generated_crs() -> str:
    return CRS.from_proj4(GENERATED_CRS_PROJ).to_wkt()


def generated_grid(size: Union[int, Tuple[int, int]] = 256, pixel_size: float = 5000.0) -> Grid:
    """A square (or (H, W)) grid centred on the origin of the generated CRS."""
    h, w = (size, size) if np.isscalar(size) else size
    h, w = int(h), int(w)
    _check_size(h, w, pixel_size)
    half_w, half_h = w * pixel_size / 2.0, h * pixel_size / 2.0
    return Grid.from_extent(-half_w, -half_h, half_w, half_h, pixel_size, generated_crs())


def _check_size(h: int, w: int, pixel_size: float) -> None:
    if not (isinstance(pixel_size, (int, float)) and math.isfinite(pixel_size)
            and 200.0 <= pixel_size <= 100_000.0):
        raise AirmapInputError(f"PIXEL_SIZE must be between 200 m and 100 km for the simulator, "
                               f"got {pixel_size!r}.")
    if h < 8 or w < 8:
        raise AirmapInputError(f"The simulation grid needs at least 8 x 8 cells, got {h} x {w}: "
                               "enlarge the EXTENT or reduce PIXEL_SIZE.")
    if h * w > 1024 * 1024:
        raise AirmapInputError(f"The simulation grid has {h} x {w} cells (at most 1024 x 1024): "
                               "enlarge PIXEL_SIZE or reduce the EXTENT.")


def check_projected(grid: Grid) -> None:
    """The physics needs metres: refuse geographic or unknown CRSs with the fix in the message."""
    if grid.crs is None:
        raise AirmapInputError("The simulation grid has no CRS: give a projected CRS in metres.")
    try:
        crs = CRS.from_user_input(grid.crs)
    except Exception:
        raise AirmapInputError(f"Unknown CRS {grid.crs!r}: give a projected CRS in metres.") from None
    if crs.is_geographic or not crs.is_projected:
        raise AirmapInputError("The simulator computes in metres: reproject the DEM/URBAN rasters "
                               "(or choose an EXTENT) in a projected CRS, e.g. a UTM zone.")
    factor = crs.linear_units_factor[1] if crs.linear_units_factor else 1.0
    if abs(factor - 1.0) > 1e-6:
        raise AirmapInputError("The simulator needs a projected CRS in metres, not "
                               f"{crs.linear_units_factor[0]}.")


def run_scenario(size: Union[int, Tuple[int, int]] = 256, pixel_size: float = 5000.0,
                 days: int = 30, seed: int = 0, *, grid: Optional[Grid] = None,
                 dem: Optional[np.ndarray] = None, urban: Optional[np.ndarray] = None,
                 config: Optional[SimConfig] = None, progress: Optional[Progress] = None) -> Scenario:
    """Simulate ``days`` days of hourly surface PM2.5 and return the ``Scenario``.

    Without ``grid`` the domain is ``size`` x ``size`` cells of ``pixel_size`` metres in a local
    projection; with ``grid`` (projected, metres) ``size``/``pixel_size`` are ignored. ``dem``
    and ``urban`` are (H, W) arrays on that grid; missing ones are generated. Same arguments
    and seed -> the same bytes.
    """
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise AirmapInputError(f"SEED must be a whole number >= 0, got {seed!r}.")
    # DAYS wins over config.days, so callers can reuse one config for runs of any length.
    config = config if config is not None else SimConfig(days=days)
    if config.days != days:
        config = config.with_(days=days)
    if grid is None:
        grid = generated_grid(size, pixel_size)
    else:
        check_projected(grid)
        if abs(grid.res[0] - grid.res[1]) > 1e-6 * grid.res[0]:
            raise AirmapInputError("The simulator needs square cells: resample the rasters so "
                                   "that pixel width and height are equal.")
        _check_size(grid.height, grid.width, float(grid.res[0]))
    return simulate(grid, config, int(seed), dem=dem, urban=urban, progress=progress)


def simulate(grid: Grid, config: SimConfig, seed: int, dem=None, urban=None,
             progress: Optional[Progress] = None) -> Scenario:
    progress = ensure(progress)
    shape, dx = grid.shape, float(grid.res[0])
    h_cells, w_cells = shape
    seeds = np.random.SeedSequence(seed).spawn(3)
    surface = prepare_surface(shape, dx, np.random.default_rng(seeds[0]), dem, urban,
                              config.cities_per_10k_km2)
    n_out = 24 * config.days
    n_total = n_out + config.spinup_hours
    start = datetime.fromisoformat(config.start)
    first_local = (start.hour + start.minute / 60.0 - config.spinup_hours) % 24.0
    weather = Weather(shape, dx, surface.dem, surface.urban, n_total, first_local, config,
                      np.random.default_rng(seeds[1]))
    emissions = Emissions(surface.urban, surface.roads, surface.dem, dx, config, np.random.default_rng(seeds[2]))

    out = {name: np.empty((n_out,) + shape, np.float32)
           for name in ("pm25", "rh", "wind_speed", "u", "v")}
    rain_daily = np.zeros((config.days,) + shape, np.float32)
    blh_out = np.empty(n_out, np.float64)

    dt = 3600.0
    area = dx * dx
    state = np.empty((2, h_cells + 2, w_cells + 2), np.float32)
    background = _background(weather.stagnation_field(0), config)
    state[:, 1:-1, 1:-1] = background
    _set_ring(state, background)
    inner = state[:, 1:-1, 1:-1]
    h_prev = float(weather.blh[0])
    # Residual layer above the mixed layer: concentration per tracer and its depth (m).
    residual = np.empty((2,) + shape, np.float32)
    residual[:] = config.free_troposphere_share * background
    residual_depth = 0.0
    budget = _Budget()

    for k in range(n_total):
        if k == config.spinup_hours:
            budget.start(inner, h_prev, area)
        wx = weather.hour(k)
        h = wx.blh
        bg = _background(wx.stagnation, config)
        _set_ring(state, bg)
        counting = k >= config.spinup_hours

        # 1. Boundary-layer growth and collapse. At dusk the mixed layer shrinks and leaves a
        #    residual layer aloft holding the day's pollution; the next morning's growth mixes
        #    that air back down first, then free-tropospheric air.
        ft = np.float32(config.free_troposphere_share) * bg
        residual += ((ft - residual)
                     * np.float32(1.0 - math.exp(-dt / (3600.0 * config.residual_lifetime_h))))
        if h > h_prev:
            from_residual = min(h - h_prev, residual_depth)
            from_ft = (h - h_prev) - from_residual
            if counting:
                budget.add("entrainment", _column(residual, from_residual, area)
                           + _column(ft, from_ft, area))
            inner *= np.float32(h_prev / h)
            inner += residual * np.float32(from_residual / h)
            inner += ft * np.float32(from_ft / h)
            residual_depth -= from_residual
        elif h < h_prev:
            left = h_prev - h
            if counting:
                budget.add("detrainment", -_column(inner, left, area))
            mix = np.float32(left / (residual_depth + left))
            residual *= (1 - mix)
            residual += mix * inner
            residual_depth += left

        # 2. Advection and diffusion; the boundary ring brings the regional background in.
        transport = Transport(wx.u_face, wx.v_face, config.diffusivity, dx, dt, n_tracers=2,
                              limit=config.courant_limit)
        inflow = transport.run(state)
        if counting:
            budget.add("boundary", inflow * h)

        # 3. Emissions into the mixed layer.
        e_pm, e_gas = emissions.fluxes(wx.local_hour)
        inner[PM] += (e_pm * (dt / h)).astype(np.float32)
        inner[GAS] += (e_gas * (dt / h)).astype(np.float32)
        if counting:
            budget.add("emission", np.array([e_pm.sum(), e_gas.sum()]) * dt * area)

        # 4. Secondary formation: precursor -> PM, faster in humid air.
        converted = inner[GAS] * (1.0 - np.exp(-conversion_rate(wx.rh, config) * dt)).astype(np.float32)
        inner[GAS] -= converted
        inner[PM] += converted
        if counting:
            m = float(converted.sum(dtype=np.float64)) * h * area
            budget.add("secondary", np.array([m, -m]))

        # 5. Dry deposition and wet scavenging, as exact exponential decay.
        for tracer, vd, soluble in ((PM, config.dry_deposition_pm, 1.0),
                                    (GAS, config.dry_deposition_gas, 1.5)):
            dry = vd / h
            wet = wet_rate(wx.rain, config, soluble)
            total = dry + wet
            removed = inner[tracer] * (1.0 - np.exp(-total * dt)).astype(np.float32)
            inner[tracer] -= removed
            if counting:
                col = removed.astype(np.float64) * h * area
                dry_part = float((col * (dry / np.maximum(total, 1e-30))).sum())
                vec = np.zeros(2)
                vec[tracer] = -dry_part
                budget.add("dry_deposition", vec)
                vec = np.zeros(2)
                vec[tracer] = -(float(col.sum()) - dry_part)
                budget.add("wet_removal", vec)

        h_prev = h
        if counting:
            j = k - config.spinup_hours
            out["pm25"][j] = inner[PM]
            out["rh"][j] = wx.rh
            out["wind_speed"][j] = wx.speed
            out["u"][j] = wx.u
            out["v"][j] = wx.v
            blh_out[j] = h
            rain_daily[j // 24] += wx.rain
        progress.set((k + 1) / n_total)

    if np.any(out["pm25"] < 0) or not np.all(np.isfinite(out["pm25"])):
        raise RuntimeError("Simulator produced negative or non-finite PM2.5: a numerical bug.")
    budget.finish(inner, h_prev, area)
    return Scenario(
        grid=grid, pm25_hourly=out["pm25"], rh_hourly=out["rh"],
        wind_speed_hourly=out["wind_speed"], u_hourly=out["u"], v_hourly=out["v"],
        dem=surface.dem, urban=surface.urban, times=hour_stamps(config.start, n_out),
        seed=seed, blh_hourly=blh_out, rain_daily=rain_daily,
        emission=emissions.mean_pm_flux(), point_sources=emissions.points,
        budget=budget.summary(), config=config)


def _background(stagnation: np.ndarray, config: SimConfig) -> np.ndarray:
    """Regional background (PM, precursor), (2, H, W) ug/m3, for the local air mass."""
    pm = config.background_clean + (config.background_stagnant - config.background_clean) * stagnation
    return np.stack([pm, 0.5 * pm]).astype(np.float32)


def _set_ring(state: np.ndarray, values: np.ndarray) -> None:
    """Fill the boundary ring from the background of the adjacent edge cells."""
    state[:, 0, 1:-1] = values[:, 0, :]
    state[:, -1, 1:-1] = values[:, -1, :]
    state[:, 1:-1, 0] = values[:, :, 0]
    state[:, 1:-1, -1] = values[:, :, -1]
    state[:, 0, 0] = state[:, 0, 1]
    state[:, 0, -1] = state[:, 0, -2]
    state[:, -1, 0] = state[:, -1, 1]
    state[:, -1, -1] = state[:, -1, -2]


def _column(inner: np.ndarray, depth: float, area: float) -> np.ndarray:
    """Mass (ug) per tracer in a layer of ``depth`` metres over the domain."""
    return inner.sum(axis=(1, 2), dtype=np.float64) * depth * area


class _Budget:
    """Mass budget (ug) per tracer over the output period; terms are signed (+ = gain)."""

    TERMS = ("emission", "secondary", "entrainment", "detrainment", "boundary",
             "dry_deposition", "wet_removal")

    def __init__(self):
        self.terms = {name: np.zeros(2) for name in self.TERMS}
        self.mass_start = np.zeros(2)
        self.mass_end = np.zeros(2)

    def start(self, inner, h, area):
        self.mass_start = _column(inner, h, area)

    def add(self, name, value):
        self.terms[name] = self.terms[name] + np.asarray(value, np.float64)

    def finish(self, inner, h, area):
        self.mass_end = _column(inner, h, area)

    def summary(self) -> dict:
        """Flat dict: '<term>_pm', '<term>_gas', mass_start/end, change and residual per tracer."""
        out = {}
        for i, tracer in enumerate(("pm", "gas")):
            for name, vec in self.terms.items():
                out[f"{name}_{tracer}"] = float(vec[i])
            out[f"mass_start_{tracer}"] = float(self.mass_start[i])
            out[f"mass_end_{tracer}"] = float(self.mass_end[i])
            change = float(self.mass_end[i] - self.mass_start[i])
            out[f"change_{tracer}"] = change
            out[f"residual_{tracer}"] = change - sum(float(v[i]) for v in self.terms.values())
        return out
