"""Putting a prediction and its reference on the same footing: a reference raster resampled
onto the prediction grid, or the prediction sampled at reference stations."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, Optional

import numpy as np
from rasterio.crs import CRS
from rasterio.warp import Resampling, reproject

from .errors import AirmapInputError
from .grid import Grid
from .metrics import score
from .raster_io import Raster
from .station_methods import sample_cells
from .stations import Stations


@dataclass
class Comparison:
    predicted: np.ndarray   # paired values (flattened)
    reference: np.ndarray
    metrics: Dict[str, float]
    bias_map: Optional[np.ndarray] = None   # (H, W) prediction - reference, raster case
    points: Optional[Stations] = None       # stations with bias as values, point case


def resample_to(raster: Raster, grid: Grid) -> np.ndarray:
    """Reference bands resampled (bilinear, NaN-aware) onto ``grid``."""
    out = np.full((raster.data.shape[0],) + grid.shape, np.nan, dtype=np.float32)
    for b in range(raster.data.shape[0]):
        reproject(raster.data[b], out[b], src_transform=raster.grid.transform,
                  src_crs=CRS.from_user_input(raster.grid.crs), src_nodata=np.nan,
                  dst_transform=grid.transform, dst_crs=CRS.from_user_input(grid.crs), dst_nodata=np.nan,
                  resampling=Resampling.bilinear)
    return out


def compare_rasters(prediction: Raster, reference: Raster) -> Comparison:
    ref = resample_to(reference, prediction.grid)
    pred = prediction.data
    if ref.shape[0] != pred.shape[0]:
        if ref.shape[0] != 1:
            raise AirmapInputError(f"The prediction has {pred.shape[0]} bands and the reference {ref.shape[0]}: "
                                   "give rasters with the same number of bands (or a one-band reference).")
        ref = np.repeat(ref, pred.shape[0], axis=0)
    both = np.isfinite(pred) & np.isfinite(ref)
    if not both.any():
        raise AirmapInputError("The prediction and the reference do not overlap (no cell has data in both): "
                               "check their extents and CRS.")
    with np.errstate(invalid="ignore"):
        bias = np.nanmean(np.where(both, pred - ref, np.nan), axis=0)
    return Comparison(pred[both], ref[both], score(pred[both], ref[both]), bias_map=bias)


def compare_points(prediction: Raster, stations: Stations, band: int = 0) -> Comparison:
    values = sample_cells(prediction.data[band], prediction.grid, stations.x, stations.y)
    ok = np.isfinite(values)
    if not ok.any():
        raise AirmapInputError("No reference station falls on a prediction cell with data: check that the "
                               "stations lie inside the prediction's extent.")
    st = stations.subset(ok)
    pred = values[ok]
    return Comparison(pred, st.values, score(pred, st.values),
                      points=type(st)(st.x, st.y, pred - st.values, st.ids, st.groups))
