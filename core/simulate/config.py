"""Every physical and numerical setting of the simulator, with its unit and why it has its
default. One frozen dataclass so a scenario can be reproduced from (config, seed) alone."""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields, replace
from datetime import datetime

from ..errors import AirmapInputError


@dataclass(frozen=True)
class SimConfig:
    days: int = 30
    spinup_hours: int = 24            # run before the first output hour, so fields start mature
    start: str = "2017-01-01T00:00:00"  # local solar time of the first output hour

    # --- emissions ------------------------------------------------------------------------
    urban_emission: float = 1.3       # primary PM2.5, ug m-2 s-1 at urban fraction 1 (daily mean)
    traffic_share: float = 0.5        # part of urban emission that follows the traffic cycle
    road_emission: float = 0.06       # extra primary on road corridors, ug m-2 s-1 at roads=1
    precursor_ratio: float = 3.2      # precursor gas emitted per unit primary PM (PM-equivalent)
    farmland_precursor: float = 0.05  # precursor from open, low farmland, ug m-2 s-1
    regional_contrast: float = 0.55   # log-std of a regional emission multiplier
    regional_scale_km: float = 200.0  # its correlation length
    point_sources_per_10k_km2: float = 0.12
    point_source_kg_h: float = 60.0   # median primary PM2.5 of a point source, kg/h (lognormal)
    cities_per_10k_km2: float = 3.0   # generated cities and towns

    # --- chemistry and removal -------------------------------------------------------------
    secondary_rate: float = 0.02      # precursor -> PM conversion, 1/h at dry conditions
    secondary_rh_boost: float = 5.0   # extra multiple of the rate as RH goes from 50 % to 95 %
    dry_deposition_pm: float = 0.002  # deposition velocity, m/s
    dry_deposition_gas: float = 0.003
    wet_scavenging: float = 6e-5      # s-1 at 1 mm/h; grows with rain rate ** 0.8
    background_clean: float = 8.0     # regional background PM2.5 in a ventilated air mass, ug/m3
    background_stagnant: float = 35.0  # ... in a stagnant, humid air mass
    free_troposphere_share: float = 0.35  # free-troposphere PM as a share of the background
    residual_lifetime_h: float = 36.0  # residual layer relaxes to the free troposphere, hours

    # --- meteorology -------------------------------------------------------------------------
    mean_wind: float = 3.2            # large-scale surface wind, m/s
    eddy_wind: float = 1.2            # std of the large-scale eddy wind, m/s
    synoptic_days: float = 5.0        # typical period of stagnation / ventilation cycles
    blh_day: float = 1300.0           # afternoon boundary-layer height on a ventilated day, m
    blh_night: float = 220.0          # night-time stable layer, m
    rain_events_per_day: float = 0.35

    # --- numerics ------------------------------------------------------------------------------
    diffusivity: float = 1500.0       # horizontal eddy diffusivity, m2/s
    courant_limit: float = 0.5        # see transport.substeps_needed

    def __post_init__(self):
        if not isinstance(self.days, (int,)) or isinstance(self.days, bool) or not 1 <= self.days <= 366:
            raise AirmapInputError(f"DAYS must be a whole number from 1 to 366, got {self.days!r}.")
        if not isinstance(self.spinup_hours, int) or not 0 <= self.spinup_hours <= 24 * 30:
            raise AirmapInputError("spinup_hours must be a whole number from 0 to 720.")
        try:
            datetime.fromisoformat(self.start)
        except (TypeError, ValueError):
            raise AirmapInputError(f"start must be an ISO date-time such as 2017-01-01T00:00:00, "
                                   f"got {self.start!r}.") from None
        for f in fields(self):
            if f.name in ("days", "spinup_hours", "start"):
                continue
            value = getattr(self, f.name)
            if not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
                raise AirmapInputError(f"Simulator setting {f.name} must be a finite number "
                                       f">= 0, got {value!r}.")
        if self.traffic_share > 1:
            raise AirmapInputError("traffic_share must lie between 0 and 1.")
        if self.free_troposphere_share > 1:
            raise AirmapInputError("free_troposphere_share must lie between 0 and 1.")
        if not 0 < self.courant_limit <= 0.5:
            raise AirmapInputError("courant_limit must lie in (0, 0.5]: larger steps lose positivity.")
        if self.blh_night <= 10 or self.blh_day < self.blh_night:
            raise AirmapInputError("Boundary-layer heights need blh_day >= blh_night > 10 m.")
        if self.residual_lifetime_h <= 0:
            raise AirmapInputError("residual_lifetime_h must be above 0 hours.")
        if self.synoptic_days <= 0.5:
            raise AirmapInputError("synoptic_days must be above 0.5.")

    def with_(self, **changes) -> "SimConfig":
        try:
            return replace(self, **changes)
        except TypeError as exc:
            raise AirmapInputError(f"Unknown simulator setting: {exc}") from None

    def as_dict(self) -> dict:
        return asdict(self)
