"""Benchmark section of the simulator: realism against the real CNEMC network, and speed.

Realism compares the statistics the reconstruction methods depend on, computed the same way on
real station data (CNEMC daily PM2.5, 2017-04-11, 1,448 sites over China) and on simulated
stations (the simulator's urban-clustered networks, pooled over the simulated days):
- value distribution: median, 90th percentile, skewness;
- spatial structure: a spherical variogram fitted to the empirical semivariogram up to 600 km
  (range, and nugget / sill ratio);
- urban / rural contrast. The real network has no land-use attribute, so urban vs rural is
  proxied by station density: a site with many neighbours within 30 km sits in a city (top
  quartile of neighbour counts), a site with few is rural (bottom quartile). The same proxy is
  applied to the simulated networks; the simulator's true contrast (urban fraction >= 0.3 vs
  < 0.05 cells) is shown beside it.
"""
from __future__ import annotations

import csv
import math
import os
import time
from pathlib import Path

import numpy as np
from scipy import optimize, stats

try:
    from ...core.simulate import run_scenario
except ImportError:  # loaded by file path rather than as part of the package
    from airmap.core.simulate import run_scenario

EARTH_KM = 6371.0
MAX_LAG_KM = 600.0
BIN_KM = 25.0
NEIGHBOUR_KM = 30.0


# --- statistics --------------------------------------------------------------------------------
def distribution(values: np.ndarray) -> dict:
    v = np.asarray(values, float)
    v = v[np.isfinite(v)]
    return {"n": int(v.size), "median": float(np.median(v)), "p90": float(np.percentile(v, 90)),
            "skewness": float(stats.skew(v))}


def pair_distances_km(x_km: np.ndarray, y_km: np.ndarray) -> np.ndarray:
    return np.hypot(x_km[:, None] - x_km[None, :], y_km[:, None] - y_km[None, :])


def haversine_km(lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
    """Great-circle distances between all pairs (lon/lat degrees) in km: no projection needed."""
    lo, la = np.radians(lon), np.radians(lat)
    dlat = la[:, None] - la[None, :]
    dlon = lo[:, None] - lo[None, :]
    a = np.sin(dlat / 2) ** 2 + np.cos(la[:, None]) * np.cos(la[None, :]) * np.sin(dlon / 2) ** 2
    return 2 * EARTH_KM * np.arcsin(np.sqrt(np.clip(a, 0, 1)))


def empirical_variogram(dist_km: np.ndarray, values: np.ndarray):
    """Binned semivariance (bin centres km, gamma, pair counts) for lags below MAX_LAG_KM."""
    iu = np.triu_indices(len(values), 1)
    d = dist_km[iu]
    g = 0.5 * (values[iu[0]] - values[iu[1]]) ** 2
    keep = d < MAX_LAG_KM
    d, g = d[keep], g[keep]
    edges = np.arange(0.0, MAX_LAG_KM + BIN_KM, BIN_KM)
    idx = np.digitize(d, edges) - 1
    counts = np.bincount(idx, minlength=len(edges) - 1)[: len(edges) - 1]
    sums = np.bincount(idx, weights=g, minlength=len(edges) - 1)[: len(edges) - 1]
    ok = counts >= 10
    centres = 0.5 * (edges[:-1] + edges[1:])
    return centres[ok], sums[ok] / counts[ok], counts[ok]


def spherical(h, nugget, psill, rng_km):
    r = np.minimum(h / rng_km, 1.0)
    return nugget + psill * (1.5 * r - 0.5 * r ** 3)


def fit_variogram(dist_km: np.ndarray, values: np.ndarray) -> dict:
    """Spherical model fitted by pair-count-weighted least squares: range and nugget/sill."""
    lag, gamma, counts = empirical_variogram(dist_km, values)
    var = float(np.var(values))
    p0 = (0.2 * var, 0.8 * var, 200.0)
    bounds = ([0.0, 0.0, 10.0], [4 * var + 1e-9, 4 * var + 1e-9, 3 * MAX_LAG_KM])
    params, _ = optimize.curve_fit(spherical, lag, gamma, p0=p0, bounds=bounds,
                                   sigma=1.0 / np.sqrt(counts), maxfev=20000)
    nugget, psill, range_km = params
    return {"range_km": float(range_km), "nugget_ratio": float(nugget / max(nugget + psill, 1e-12))}


def density_contrast(dist_km: np.ndarray, values: np.ndarray) -> dict:
    """Median PM2.5 of dense-network sites (top quartile of neighbours within 30 km) over that
    of sparse ones (bottom quartile): the urban / rural proxy usable on any network."""
    neighbours = (dist_km < NEIGHBOUR_KM).sum(axis=1) - 1
    hi, lo = np.percentile(neighbours, [75, 25])
    dense = values[neighbours >= max(hi, 1)]
    sparse = values[neighbours <= lo]
    if dense.size == 0 or sparse.size == 0:
        return {"contrast": float("nan")}
    return {"contrast": float(np.median(dense) / max(np.median(sparse), 1e-9))}


# --- real data -------------------------------------------------------------------------------------
def shared_data() -> Path:
    return Path(__file__).resolve().parents[2].parent / "shared" / "data"


def real_statistics() -> dict:
    path = shared_data() / "cnemc_china_stations_20170411.csv"
    with open(path, newline="") as fh:
        rows = [r for r in csv.DictReader(fh)]
    lon = np.array([float(r["lon"]) for r in rows])
    lat = np.array([float(r["lat"]) for r in rows])
    pm = np.array([float(r["pm25"]) if r["pm25"] not in ("", "NaN", "nan") else np.nan for r in rows])
    ok = np.isfinite(pm) & np.isfinite(lon) & np.isfinite(lat)
    lon, lat, pm = lon[ok], lat[ok], pm[ok]
    dist = haversine_km(lon, lat)
    out = distribution(pm)
    out.update(fit_variogram(dist, pm))
    out.update(density_contrast(dist, pm))
    return out


# --- simulated data ---------------------------------------------------------------------------------
def simulated_statistics(scenario, n_stations: int = 300, seed: int = 1) -> dict:
    """The same statistics on simulated networks: one network (fixed sites, as a real one),
    sampled every simulated day; distribution pooled over days, variogram and contrast taken
    per day and summarised by their median over days."""
    rng = np.random.default_rng(seed)
    sites = scenario.station_sites(n_stations, rng)
    x_km, y_km = sites[2] / 1000.0, sites[3] / 1000.0
    dist = pair_distances_km(x_km, y_km)
    pooled, ranges, nuggets, contrasts, per_day = [], [], [], [], []
    for day in range(scenario.n_days):
        st = scenario.sample_stations(n_stations, day, rng, noise=0.05, sites=sites)
        pooled.append(st.values)
        per_day.append(distribution(st.values))
        vg = fit_variogram(dist, st.values)
        ranges.append(vg["range_km"])
        nuggets.append(vg["nugget_ratio"])
        contrasts.append(density_contrast(dist, st.values)["contrast"])
    out = distribution(np.concatenate(pooled))
    for key in ("median", "p90", "skewness"):
        out["day_" + key] = float(np.median([d[key] for d in per_day]))
    out.update({"range_km": float(np.median(ranges)), "nugget_ratio": float(np.median(nuggets)),
                "contrast": float(np.nanmedian(contrasts))})
    daily = scenario.pm25_daily
    urban = scenario.urban
    truth_urban = np.median(daily[:, urban >= 0.3]) if (urban >= 0.3).any() else np.nan
    truth_rural = np.median(daily[:, urban < 0.05])
    out["true_contrast"] = float(truth_urban / truth_rural)
    out["per_day_range_iqr"] = [float(v) for v in np.percentile(ranges, [25, 75])]
    return out


# --- section ----------------------------------------------------------------------------------------
def _fmt(v, digits=2):
    if isinstance(v, float) and math.isnan(v):
        return "n/a"
    return f"{v:.{digits}f}" if isinstance(v, float) else str(v)


REALISM_SEEDS = (0, 1, 2)


def _cell(values, digits):
    """'median (min–max)' over scenarios."""
    v = np.asarray(values, float)
    if len(v) == 1:
        return _fmt(float(v[0]), digits)
    return f"{_fmt(float(np.median(v)), digits)} ({_fmt(float(v.min()), digits)}–{_fmt(float(v.max()), digits)})"


def section(quick: bool) -> str:
    size, days = (96, 3) if quick else (256, 30)
    seeds = REALISM_SEEDS[:1] if quick else REALISM_SEEDS
    n_stations = 120 if quick else 300
    sims, seconds, first = [], [], None
    for seed in seeds:
        t0 = time.perf_counter()
        scenario = run_scenario(size=size, pixel_size=5000.0, days=days, seed=seed)
        seconds.append(time.perf_counter() - t0)
        sims.append(simulated_statistics(scenario, n_stations=n_stations))
        if first is None:
            first = scenario
        else:
            del scenario
    real = real_statistics()
    b = first.budget
    entering = b["emission_pm"] + b["secondary_pm"] + b["entrainment_pm"] + max(b["boundary_pm"], 0)
    col = lambda key, digits=2: _cell([s[key] for s in sims], digits)
    lines = [
        "## Simulator (`core/simulate`)",
        "",
        f"Scenarios: {size} x {size} cells of 5 km, {days} days hourly (+24 h spin-up), seeds "
        f"{', '.join(map(str, seeds))}, default settings"
        + (" (quick mode: one small scenario; realism numbers are indicative only)" if quick else "") + ".",
        "",
        "### Speed",
        "",
        "| cells | days | hourly steps | wall time per scenario (s) | target |",
        "|---|---|---|---|---|",
        f"| {size} x {size} | {days} | {24 * days} | {', '.join(f'{t:.1f}' for t in seconds)} | "
        + ("≤ 60 s |" if not quick else "≤ 60 s at 256 x 256 x 30 days (full `make bench`) |"),
        "",
        f"Measured in this run on this machine ({os.cpu_count()} CPU cores shared with other jobs; the "
        "simulator is single-threaded numpy/scipy).",
        "",
        f"### Mass budget of PM2.5 over the output period (seed {seeds[0]})",
        "",
        "| term | 10^12 µg |",
        "|---|---|",
    ]
    for term in ("emission", "secondary", "entrainment", "detrainment", "boundary",
                 "dry_deposition", "wet_removal"):
        lines.append(f"| {term.replace('_', ' ')} | {b[term + '_pm'] / 1e12:.1f} |")
    lines += [f"| change of mass | {b['change_pm'] / 1e12:.1f} |",
              f"| residual (change − sum of terms) | {b['residual_pm'] / 1e12:.3g} "
              f"({100 * abs(b['residual_pm']) / entering:.2g} % of the mass entering) |", ""]
    lines += [
        "### Realism: simulated vs real daily PM2.5 at stations",
        "",
        "Real: CNEMC national network, 2017-04-11 (one day, 1,449 sites with PM2.5). Simulated: per "
        f"scenario one network of {n_stations} urban-clustered sites with 5 % measurement noise, "
        f"sampled on all {days} days. 'pooled' = all station-days together; 'per day' = the "
        "statistic of each day's map, median over days (comparable to the single real day). "
        "Simulated cells show the median over scenarios (min–max).",
        "",
        "| statistic | real (CNEMC) | simulated |",
        "|---|---|---|",
        f"| station-days per scenario | {real['n']} | {sims[0]['n']} |",
        f"| median, pooled (µg/m³) | {_fmt(real['median'], 1)} | {col('median', 1)} |",
        f"| median, per day (µg/m³) | {_fmt(real['median'], 1)} | {col('day_median', 1)} |",
        f"| 90th percentile, pooled (µg/m³) | {_fmt(real['p90'], 1)} | {col('p90', 1)} |",
        f"| 90th percentile, per day (µg/m³) | {_fmt(real['p90'], 1)} | {col('day_p90', 1)} |",
        f"| skewness, pooled | {_fmt(real['skewness'])} | {col('skewness')} |",
        f"| skewness, per day | {_fmt(real['skewness'])} | {col('day_skewness')} |",
        f"| variogram range (km; spherical fit, lags < {MAX_LAG_KM:.0f} km; per day) | "
        f"{_fmt(real['range_km'], 0)} | {col('range_km', 0)} |",
        f"| nugget / sill (per day) | {_fmt(real['nugget_ratio'])} | {col('nugget_ratio')} |",
        f"| urban / rural median, station-density proxy | {_fmt(real['contrast'])} | {col('contrast')} |",
        f"| urban / rural median, true land use (urban ≥ 0.3 vs < 0.05) | n/a | {col('true_contrast')} |",
        "",
        "Urban / rural proxy: the real network has no land-use attribute, so a site whose number of "
        f"neighbours within {NEIGHBOUR_KM:.0f} km is in the top quartile counts as urban and one in the "
        "bottom quartile as rural; the same rule is applied to the simulated networks.",
        "",
    ]
    return "\n".join(lines)


if __name__ == "__main__":  # python -m airmap.bench.sections.simulate [--quick]
    import sys
    print(section("--quick" in sys.argv))
