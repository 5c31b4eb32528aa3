"""Generated meteorology: mutually consistent wind, humidity, boundary layer and rain.

One slowly varying "stagnation index" S in [0, 1] drives the synoptic weather, as in the
haze episodes of the North China Plain: a stagnant, humid air mass (S ~ 1) brings weak wind, a
shallow boundary layer, high humidity and a high regional background; a ventilating air mass
(S ~ 0) brings strong wind from one side, dry air, a deep boundary layer and fronts with rain.
S changes sweep across the domain with the fronts. The boundary layer follows the domain mean
of S (it is uniform in space, see model.py); wind, humidity and background follow S locally.
Diurnal cycles are superimposed (local solar time): wind and mixing peak in the afternoon,
humidity peaks before dawn. Terrain slows the wind (rough ground, basin cold pools at night)
and turns it along valleys; urban roughness slows it too; a Helmholtz projection then makes the
surface flow non-divergent so that flow goes around obstacles instead of piling up.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .config import SimConfig
from .fields import gaussian_field, smooth
from .transport import centre_winds_from_faces, face_winds_from_centres, make_nondivergent


@dataclass
class HourlyWeather:
    u_face: np.ndarray   # (H, W+1) m/s eastward, non-divergent together with v_face
    v_face: np.ndarray   # (H+1, W) m/s northward
    u: np.ndarray        # (H, W) float32 cell-centre eastward wind
    v: np.ndarray        # (H, W) float32 cell-centre northward wind
    speed: np.ndarray    # (H, W) float32
    rh: np.ndarray       # (H, W) float32, %
    rain: np.ndarray     # (H, W) float32, mm/h
    blh: float           # boundary-layer (mixing) height, m, uniform over the domain
    stagnation: np.ndarray  # (H, W) S at each cell (float32)
    local_hour: float    # 0..24


def _smooth_noise(n: int, scale_hours: float, rng: np.random.Generator) -> np.ndarray:
    """Unit-variance random series with a Gaussian correlation of ``scale_hours``."""
    pad = int(4 * scale_hours) + 1
    series = smooth(rng.standard_normal(n + 2 * pad), scale_hours)[pad:pad + n]
    return series / max(series.std(), 1e-9)


class Weather:
    """Deterministic weather of a scenario; ``hour(k)`` gives hour k after the first step."""

    def __init__(self, shape, dx: float, dem: np.ndarray, urban: np.ndarray, n_hours: int,
                 first_local_hour: float, config: SimConfig, rng: np.random.Generator):
        self.shape, self.dx, self.cfg = tuple(shape), float(dx), config
        h, w = self.shape
        km = dx / 1000.0
        t = np.arange(n_hours, dtype=np.float64)
        self.local_hour = (first_local_hour + t) % 24.0

        # --- synoptic state --------------------------------------------------------------
        # S(t) is generated on an extended time axis; each cell sees it delayed by the time a
        # front moving along the ventilating wind takes to reach it (fronts cross the domain in
        # one to two days), so transitions sweep across the map and make regional gradients.
        vent_dir = rng.uniform(0, 2 * np.pi)         # where the ventilating wind blows to
        front_kmh = rng.uniform(15.0, 30.0)
        xc_km = (np.arange(w) + 0.5) * km
        yn_km = (h - np.arange(h) - 0.5) * km        # northward coordinate of each row
        along = xc_km[None, :] * np.cos(vent_dir) + yn_km[:, None] * np.sin(vent_dir)
        self._delay = (along - along.min()) / front_kmh
        lead = int(np.ceil(self._delay.max())) + 1
        t_ext = np.arange(-lead, n_hours, dtype=np.float64)
        period = 24.0 * config.synoptic_days * rng.uniform(0.8, 1.25)
        phase = 2 * np.pi * t_ext / period + rng.uniform(0, 2 * np.pi)
        raw = (np.sin(phase) + 0.35 * np.sin(2.1 * phase + rng.uniform(0, 2 * np.pi))
               + 0.45 * _smooth_noise(t_ext.size, 18.0, rng))
        self._t_ext = t_ext
        self._s_ext = 1.0 / (1.0 + np.exp(-1.8 * raw))
        sample = self._delay.ravel()[:: max(1, self._delay.size // 512)]
        self.stagnation = np.array([np.interp(k - sample, t_ext, self._s_ext).mean()
                                    for k in range(n_hours)])  # domain mean, per hour
        wander = rng.uniform(0, 2 * np.pi) + 1.3 * _smooth_noise(n_hours, 30.0, rng)
        s = self.stagnation
        self._vent = config.mean_wind * 1.7 * np.array([np.cos(vent_dir), np.sin(vent_dir)])
        self._stag_x = config.mean_wind * 0.45 * np.cos(wander)
        self._stag_y = config.mean_wind * 0.45 * np.sin(wander)
        # Domain-mean large-scale wind (moves the rain bands).
        self.wind_x = (1 - s) * self._vent[0] + s * self._stag_x
        self.wind_y = (1 - s) * self._vent[1] + s * self._stag_y

        # --- large-scale eddies: two fixed streamfunction patterns mixed in time -------------
        eddy = []
        for _ in range(2):
            psi = gaussian_field(shape, 180.0 / km, rng)
            dpsi_dy, dpsi_dx = np.gradient(psi)
            eddy.append((dpsi_dy, dpsi_dx))  # rows run southward: u = -dpsi/dy_north = dpsi/drow
        norm = np.sqrt(np.mean(eddy[0][0] ** 2 + eddy[0][1] ** 2))
        self._eddy = [(a / norm, b / norm) for a, b in eddy]
        eddy_period = 24.0 * rng.uniform(2.0, 4.0)
        ephase = 2 * np.pi * t / eddy_period + rng.uniform(0, 2 * np.pi)
        self._eddy_w = config.eddy_wind * np.stack([np.cos(ephase), np.sin(ephase)], axis=1)

        # --- terrain and urban effects on the wind -----------------------------------------
        dem64 = dem.astype(np.float64)
        mean_local = smooth(dem64, 7.5 / km)
        relief = np.sqrt(np.maximum(smooth(dem64 ** 2, 7.5 / km) - mean_local ** 2, 0.0))
        basin_depth = np.maximum(smooth(dem64, 40.0 / km) - dem64, 0.0)
        self._slow_day = (1.0 / (1.0 + relief / 300.0)) * (1.0 - 0.3 * urban)
        self._basin = 1.0 / (1.0 + basin_depth / 200.0)
        gy, gx = np.gradient(smooth(dem64, 10.0 / km), dx)
        gy = -gy  # row index grows southward; make gy the northward slope
        slope = np.hypot(gx, gy)
        self._nx = np.where(slope > 0, gx / np.maximum(slope, 1e-12), 0.0)
        self._ny = np.where(slope > 0, gy / np.maximum(slope, 1e-12), 0.0)
        self._channel = 0.7 * np.tanh(slope / 0.008)

        # --- humidity ------------------------------------------------------------------------
        self._rh_patterns = [gaussian_field(shape, 150.0 / km, rng) for _ in range(2)]
        rh_phase = 2 * np.pi * t / (24.0 * rng.uniform(3.0, 6.0)) + rng.uniform(0, 2 * np.pi)
        self._rh_w = np.stack([np.cos(rh_phase), np.sin(rh_phase)], axis=1) * 6.0
        self._rh_static = -6.0 * urban + 2.0 * np.clip(dem64 / 1000.0, 0, 3)
        self._rh_noise = 4.0 * _smooth_noise(n_hours, 12.0, rng)

        # --- boundary layer ------------------------------------------------------------------
        day_shape = np.clip(np.sin(np.pi * (self.local_hour - 7.0) / 12.0), 0.0, None)
        day_shape[(self.local_hour < 7.0) | (self.local_hour > 19.0)] = 0.0
        h_day = config.blh_day * (1.0 - 0.55 * s)
        h_night = config.blh_night * (1.0 - 0.35 * s)
        self.blh = h_night + (h_day - h_night) * day_shape ** 0.8

        # --- rain events, mostly on fronts (ventilating phases) --------------------------------
        n_events = int(rng.poisson(config.rain_events_per_day * n_hours / 24.0))
        weight = (1.0 - s) ** 2 + 0.05
        starts = rng.choice(n_hours, size=n_events, p=weight / weight.sum()) if n_events else []
        self._events = []
        for k0 in starts:
            self._events.append(dict(
                start=int(k0), duration=float(rng.uniform(3, 14)),
                peak=float(rng.lognormal(np.log(1.8), 0.6)),
                radius=float(rng.uniform(60, 250) * 1000.0),
                x0=float(rng.uniform(-0.2, 1.2) * w * dx), y0=float(rng.uniform(-0.2, 1.2) * h * dx)))
        self._xc = (np.arange(w) + 0.5) * dx
        self._yc = (np.arange(h) + 0.5) * dx   # distance southward from the top edge

    # -----------------------------------------------------------------------------------
    def _rain(self, k: int) -> np.ndarray:
        rain = np.zeros(self.shape, np.float64)
        for ev in self._events:
            age = k - ev["start"]
            if not 0 <= age <= ev["duration"]:
                continue
            # The rain band travels with the large-scale wind (rows run southward).
            x = ev["x0"] + self.wind_x[ev["start"]] * 3600.0 * age
            y = ev["y0"] - self.wind_y[ev["start"]] * 3600.0 * age
            ramp = np.sin(np.pi * age / ev["duration"])
            gx = np.exp(-(self._xc - x) ** 2 / (2 * ev["radius"] ** 2))
            gy = np.exp(-(self._yc - y) ** 2 / (2 * ev["radius"] ** 2))
            rain += ev["peak"] * ramp * np.outer(gy, gx)
        return rain

    def hour(self, k: int) -> HourlyWeather:
        lh = self.local_hour[k]
        diurnal = 1.0 + 0.3 * np.cos(2 * np.pi * (lh - 14.0) / 24.0)
        night = 0.5 - 0.5 * np.cos(2 * np.pi * (lh - 2.0) / 24.0)   # 1 at 02 h, 0 at 14 h
        stag = self.stagnation_field(k)
        (ex1, ey1), (ex2, ey2) = self._eddy
        a1, a2 = self._eddy_w[k]
        u = (1 - stag) * self._vent[0] + stag * self._stag_x[k] + a1 * ex1 + a2 * ex2
        v = (1 - stag) * self._vent[1] + stag * self._stag_y[k] + a1 * ey1 + a2 * ey2
        # Turn along the terrain contours, then slow over rough ground, in basins and cities.
        along = self._channel * (u * self._nx + v * self._ny)
        u = u - along * self._nx
        v = v - along * self._ny
        slow = diurnal * self._slow_day * self._basin ** (0.4 + 0.6 * night)
        u_face, v_face = face_winds_from_centres(u * slow, v * slow)
        u_face, v_face = make_nondivergent(u_face, v_face, self.dx)
        uc, vc = centre_winds_from_faces(u_face, v_face)
        rain = self._rain(k)
        w1, w2 = self._rh_w[k]
        rh = (42.0 + 38.0 * stag + self._rh_noise[k] + 12.0 * np.cos(2 * np.pi * (lh - 4.0) / 24.0)
              + w1 * self._rh_patterns[0] + w2 * self._rh_patterns[1] + self._rh_static)
        rh = rh + (97.0 - rh) * np.clip(rain / 2.0, 0.0, 1.0)
        return HourlyWeather(
            u_face=u_face, v_face=v_face, u=uc.astype(np.float32), v=vc.astype(np.float32),
            speed=np.hypot(uc, vc).astype(np.float32),
            rh=np.clip(rh, 10.0, 100.0).astype(np.float32), rain=rain.astype(np.float32),
            blh=float(self.blh[k]), stagnation=stag.astype(np.float32), local_hour=float(lh))

    def stagnation_field(self, k: int) -> np.ndarray:
        """S at every cell for hour k: the synoptic series delayed by the front's travel time."""
        return np.interp(k - self._delay, self._t_ext, self._s_ext)
