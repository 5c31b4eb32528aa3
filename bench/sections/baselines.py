"""Foundation baselines on real data: the rows every model issue must beat."""
import os

import numpy as np

from ..common import SHARED_DATA, measure_in_fresh_process, table
from ...core.baselines import bicubic, linear_in_time
from ...core.crossval import cross_validate
from ...core.grid import Grid
from ...core.metrics import score
from ...core.raster_io import read_raster
from ...core.stations import read_station_csv

CNEMC = os.path.join(SHARED_DATA, "cnemc_china_stations_20170411.csv")
CAMS = os.path.join(SHARED_DATA, "cams_pm25_0p75_20191231.nc")
ERA5 = os.path.join(SHARED_DATA, "era5_t2m_uk_201903_hourly.nc")


def block_mean(data, factor):
    """(B, H, W) -> (B, H//f, W//f) means of f x f blocks (NaN-aware), cropping partial blocks."""
    b, h, w = data.shape
    h, w = h - h % factor, w - w % factor
    blocks = data[:, :h, :w].reshape(b, h // factor, factor, w // factor, factor)
    with np.errstate(invalid="ignore"):
        return np.nanmean(blocks, axis=(2, 4))


def cams_self_similarity():
    """Average CAMS 3x3 to 2.25°, bicubic back to 0.75°, score against the real 0.75° field."""
    cams = read_raster(CAMS).data
    cams = cams[:, : cams.shape[1] - cams.shape[1] % 3]
    coarse = block_mean(cams, 3)
    return score(bicubic(coarse, 3), cams)


def era5_every_third_hour():
    """Keep hours 0, 3, 6, ...; interpolate linearly; score the two hours between each pair."""
    t2m = read_raster(ERA5).data
    t = (t2m.shape[0] - 1) // 3 * 3 + 1
    kept = t2m[:t:3]
    pred = linear_in_time(kept, 3)
    between = np.ones(t, bool)
    between[::3] = False
    return score(pred[between], t2m[:t][between]), int(between.sum())


def krige_once(n_stations, cells):
    """One kriging run (module level, so a fresh process can run it)."""
    from airmap.core.baselines import ordinary_kriging
    from airmap.core.grid import Grid as G
    from airmap.core.stations import read_station_csv as read

    st = read(CNEMC, "pm25")
    st = st.subset(np.random.default_rng(0).permutation(len(st))[:n_stations])
    side = int(round(np.sqrt(cells)))
    pixel = max(135 - 73, 54 - 18) / side
    ordinary_kriging(st, G.from_extent(73, 18, 73 + pixel * side, 18 + pixel * side, pixel, "EPSG:4326"))


def section(quick: bool) -> str:
    st = read_station_csv(CNEMC, "pm25")
    cv_rows = []
    for method in ("idw", "kriging"):
        cv = cross_validate(st, method, folds=10, seed=0, crs="EPSG:4326")
        m = cv.metrics
        cv_rows.append((method, m["N"], m["R2"], m["RMSE"], m["MAE"]))
    cams = cams_self_similarity()
    era5, pairs = era5_every_third_hour()
    scaling = []
    station_counts = (100, 400) if quick else (100, 400, 800, len(st))
    grid_cells = (64 ** 2,) if quick else (64 ** 2, 128 ** 2, 256 ** 2)
    for n in station_counts:
        for cells in grid_cells:
            secs, rss = measure_in_fresh_process(krige_once, n, cells)
            scaling.append((n, f"{int(np.sqrt(cells))}²", secs, rss))
    parts = [
        "## Baselines (foundation)",
        "### CNEMC PM2.5, 2017-04-11: 10-fold leave-stations-out (seed 0)",
        "IDW uses the 12 nearest stations (power 2); kriging is PyKrige ordinary kriging, exponential "
        "variogram fitted on 20 lags, each station kriged from its 40 nearest, great-circle distances "
        "(the plugin's defaults).",
        table(["method", "N", "R²", "RMSE µg/m³", "MAE µg/m³"], cv_rows),
        "### CAMS PM2.5 bicubic ×3 self-similarity (0.75° → 2.25° block mean → 0.75°)",
        table(["method", "N", "R", "RMSE µg/m³", "MAE µg/m³"],
              [("bicubic", cams["N"], cams["R"], cams["RMSE"], cams["MAE"])]),
        f"### ERA5 t2m (UK, March 2019) linear ×3 in time: every third hour kept, {pairs} hours scored",
        table(["method", "N", "R", "RMSE K", "MAE K"],
              [("linear in time", era5["N"], era5["R"], era5["RMSE"], era5["MAE"])]),
        "### Kriging cost (CNEMC stations subsampled, square lon/lat grids over China)",
        "Wall time and peak resident memory of the whole process (interpreter and libraries "
        "included), one fresh process per row.",
        table(["stations", "grid", "seconds", "peak RSS MiB"], scaling, fmt="{:.2f}"),
    ]
    return "\n\n".join(parts)
