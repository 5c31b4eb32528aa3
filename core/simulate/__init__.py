"""The airmap pollution simulator: a small, fast 2-D Eulerian model of surface PM2.5.

It produces unlimited fields with known truth for training the shipped models, for tests with
exact answers, and for users who want to try the methods. Entry point::

    from airmap.core.simulate import run_scenario
    sc = run_scenario(size=256, pixel_size=5000, days=30, seed=0)
    sc.pm25_daily, sc.coarse(3, 3), sc.sample_stations(100, day=0, rng=rng), sc.write(folder)

Modules: config (all settings), surface (terrain, cities), meteorology (wind, RH, boundary
layer, rain), chemistry (emissions, secondary formation, removal), transport (numerics),
model (the time loop and mass budget), scenario (outputs and derived products).
"""
from .config import SimConfig
from .model import generated_crs, generated_grid, run_scenario, simulate
from .scenario import Scenario, daily_mean

__all__ = ["SimConfig", "Scenario", "run_scenario", "simulate", "generated_grid",
           "generated_crs", "daily_mean"]
