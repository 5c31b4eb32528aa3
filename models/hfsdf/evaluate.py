"""Metrics written into the model card at export, measured with the exported ONNX model through
the plugin's own inference path (core/hfsdf): a held-out simulated map from 24² block means,
and the real TROPOMI scene with 20 % of its valid pixels hidden."""
from __future__ import annotations

import os

import numpy as np

from ...core.grid import Grid
from ...core.hfsdf import Observations, load_decoder, reconstruct
from ...core.metrics import score
from ...core.raster_io import read_raster
from .data import block_mean, scenario

SHARED = os.path.normpath(os.path.join(os.path.dirname(os.path.realpath(__file__)), "..", "..", "..", "shared", "data"))


def _short(s):
    return {k: round(float(s[k]), 4) if abs(s[k]) > 1e-3 else float(f"{s[k]:.4g}") for k in ("R", "IOA", "MAE", "RMSE")}


def measure(onnx_path: str) -> dict:
    decoder = load_decoder(onnx_path, device="cpu", threads=1)
    sc = scenario(1001, "summer", 240, days=4)
    truth = sc.pm25_hourly[3 * 24 + 12].astype(np.float64)
    grid = Grid.from_extent(0, 0, 240 * 5000.0, 240 * 5000.0, 5000.0)
    obs = Observations.from_raster(block_mean(truth, 10), grid.coarsened(10))
    sim = score(reconstruct(obs, grid, decoder=decoder, max_points=1024).values, truth)
    metrics = {"simulated_x10_heldout_day": dict(_short(sim), units="ug/m3",
                                                 case="region 1001 day 3 12:00, 24x24 block means -> 240x240")}
    path = os.path.join(SHARED, "tropomi_no2_nl_20211217T114745.nc")
    if os.path.exists(path):
        r = read_raster(path, "tropospheric_NO2_column_number_density")
        band = r.data[0].astype(np.float64).ravel()
        valid = np.flatnonzero(np.isfinite(band))
        hidden = np.random.default_rng(0).choice(valid, int(round(0.2 * valid.size)), replace=False)
        data = band.copy()
        data[hidden] = np.nan
        res = reconstruct(Observations.from_raster(data.reshape(r.grid.shape), r.grid), r.grid, decoder=decoder)
        metrics["tropomi_20pct_hidden"] = dict(_short(score(res.values.ravel()[hidden], band[hidden])),
                                               units="mol/m2", case=f"{hidden.size} of {valid.size} valid pixels")
    return metrics
