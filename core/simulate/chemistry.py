"""Sources and sinks of the two tracers: primary PM2.5 and a precursor gas (PM-equivalent).

- Primary emission from urban land (a flat part plus a traffic part with morning and evening
  rush hours), from road corridors (traffic), and from point sources (industry, power plants).
- The precursor (an SO2/NOx/NH3 surrogate) is emitted by the same sources and converts to
  secondary PM at a rate that grows with humidity (aqueous-phase chemistry).
- Dry deposition at a fixed velocity, wet scavenging growing with rain rate.
All rates are applied as exact exponentials over the step, so nothing goes negative.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .config import SimConfig
from .fields import gaussian_field, smooth


def traffic_cycle(local_hour: float) -> float:
    """Traffic activity with rush hours at 08 h and 18 h, mean 1 over the day."""
    h = local_hour
    raw = (0.35 + 0.55 * np.sin(np.pi * np.clip((h - 5.0) / 19.0, 0, 1))
           + 0.9 * np.exp(-0.5 * ((h - 8.0) / 1.3) ** 2) + 1.0 * np.exp(-0.5 * ((h - 18.0) / 1.6) ** 2))
    return float(raw / _TRAFFIC_MEAN)


def _raw_mean() -> float:
    hours = np.arange(0, 24, 0.25)
    return float(np.mean(0.35 + 0.55 * np.sin(np.pi * np.clip((hours - 5.0) / 19.0, 0, 1))
                         + 0.9 * np.exp(-0.5 * ((hours - 8.0) / 1.3) ** 2)
                         + 1.0 * np.exp(-0.5 * ((hours - 18.0) / 1.6) ** 2)))


_TRAFFIC_MEAN = _raw_mean()


def other_cycle(local_hour: float) -> float:
    """Domestic and commercial activity: a mild evening heating peak, mean 1."""
    return float(1.0 + 0.25 * np.cos(2 * np.pi * (local_hour - 20.0) / 24.0))


def farm_cycle(local_hour: float) -> float:
    """Ammonia volatilises with daytime warmth: peak at 14 h, mean 1."""
    return float(1.0 + 0.5 * np.cos(2 * np.pi * (local_hour - 14.0) / 24.0))


@dataclass
class PointSource:
    row: int
    col: int
    pm_rate: float    # ug/s of primary PM2.5
    gas_rate: float   # ug/s of precursor


class Emissions:
    """Emission fluxes (ug m-2 s-1) for any hour, from the surface and a list of point sources."""

    def __init__(self, urban: np.ndarray, roads: np.ndarray, dem: np.ndarray, dx: float,
                 config: SimConfig, rng: np.random.Generator):
        self.cfg = config
        area_cell = dx * dx
        h, w = urban.shape
        # Farmland emits precursor too (ammonia from fertiliser and livestock): open, low land.
        farmland = np.clip(1.0 - 2.0 * urban, 0.0, 1.0) * np.exp(-np.maximum(dem, 0.0) / 800.0)
        self.farm_gas = (config.farmland_precursor * farmland).astype(np.float64)
        # Regions differ in how much they emit per unit of urban land (heavy industry, heating
        # fuel): a smooth multiplier with mean 1, drawn after the point sources.
        self.urban_flux = (config.urban_emission * urban).astype(np.float64)
        self.road_flux = (config.road_emission * roads).astype(np.float64)
        # Point sources sit near towns (industrial zones), rarely in the open.
        km2 = h * w * area_cell / 1e6
        n = int(rng.poisson(config.point_sources_per_10k_km2 * km2 / 1e4))
        weight = smooth(urban.astype(np.float64), 3.0) + 0.02
        cells = (rng.choice(h * w, size=n, replace=False, p=weight.ravel() / weight.sum())
                 if n else np.zeros(0, int))
        kg_h = config.point_source_kg_h * rng.lognormal(0.0, 0.8, size=n)
        ug_s = kg_h * 1e9 / 3600.0
        self.points = [PointSource(int(c // w), int(c % w), float(q), float(q * 3.0 * config.precursor_ratio))
                       for c, q in zip(cells, ug_s)]
        region = np.exp(config.regional_contrast * gaussian_field((h, w), config.regional_scale_km * 1e3 / dx, rng))
        region /= region.mean()
        self.urban_flux *= region
        self.road_flux *= region
        self.farm_gas *= region
        self.point_pm = np.zeros((h, w))
        self.point_gas = np.zeros((h, w))
        for p in self.points:
            self.point_pm[p.row, p.col] += p.pm_rate / area_cell
            self.point_gas[p.row, p.col] += p.gas_rate / area_cell

    def fluxes(self, local_hour: float):
        """(primary PM, precursor) emission flux fields for this hour, ug m-2 s-1."""
        c = self.cfg
        traffic = traffic_cycle(local_hour)
        urban_factor = c.traffic_share * traffic + (1.0 - c.traffic_share) * other_cycle(local_hour)
        area = self.urban_flux * urban_factor + self.road_flux * traffic
        gas = c.precursor_ratio * area + self.point_gas + self.farm_gas * farm_cycle(local_hour)
        return area + self.point_pm, gas

    def mean_pm_flux(self) -> np.ndarray:
        return (self.urban_flux + self.road_flux + self.point_pm).astype(np.float32)


def conversion_rate(rh: np.ndarray, config: SimConfig) -> np.ndarray:
    """Precursor -> PM conversion rate (1/s), growing steeply above 50 % relative humidity."""
    wet = np.clip((rh - 50.0) / 45.0, 0.0, 1.0) ** 2
    return (config.secondary_rate / 3600.0) * (1.0 + config.secondary_rh_boost * wet)


def wet_rate(rain: np.ndarray, config: SimConfig, soluble: float = 1.0) -> np.ndarray:
    """Below- and in-cloud scavenging rate (1/s) for a rain rate in mm/h."""
    return soluble * config.wet_scavenging * np.power(np.maximum(rain, 0.0), 0.8)
