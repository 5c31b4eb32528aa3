"""Archives as lazy frame stacks: what ``core/batch`` reads.

* a NetCDF file or Zarr store with a CF time axis (``NETCDF:"f.nc":var``, or VARIABLE, or
  its only 3-D variable), opened with xarray, one frame per dask chunk;
* a folder of single-band GeoTIFFs, one frame each, the time in each file name
  (``…2019-12-31T06:00…``, ``…20191231T0600…``, ``…20191231…``) or band description;
* a multi-band raster whose band names are times (bands = time steps);
* a long-format station table (CSV: one row per station and time) for station methods.

Frames are float32, north-up, NaN for no-data. Every check that can fail (no time axis,
files on different grids, unknown columns) runs here, before anything is written.
"""
from __future__ import annotations

import glob
import os
import re
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Sequence

import numpy as np
from affine import Affine

from ..errors import AirmapInputError
from ..grid import Grid
from ..raster_io import RasterReader, source_file
from ..stations import Stations
from ..timestamps import _parse as parse_time

SUBDATASET = re.compile(r'^[A-Za-z0-9_]{2,}:"?(?P<file>[^"]+?)"?:(?P<variable>[^:"]+)$')
TIME_IN_NAME = re.compile(r"(\d{4})-?(\d{2})-?(\d{2})(?:[T_ ]?(\d{2}):?(\d{2})?(?::?(\d{2}))?)?")
AUTO_CELLS = 256   # as the station algorithms: 256 cells on the longer side by default


@dataclass
class RasterArchive:
    """``frames``: a dask array (T, H, W) float32 on ``grid``; ``times`` datetime64[ns]."""

    frames: object
    times: np.ndarray
    grid: Grid
    name: str
    units: Optional[str]
    sources: List[str] = field(default_factory=list)


@dataclass
class StationArchive:
    """One ``Stations`` per time of ``times`` (all in ``grid.crs``)."""

    frames: List[Stations]
    times: np.ndarray
    grid: Grid
    name: str
    units: Optional[str]
    sources: List[str] = field(default_factory=list)


def _time_window(times: np.ndarray, start: Optional[str], end: Optional[str], what: str) -> np.ndarray:
    """Boolean mask of times within [start, end] (ISO strings, either may be empty)."""
    keep = np.ones(times.size, dtype=bool)
    for bound, op in ((start, np.greater_equal), (end, np.less_equal)):
        if bound:
            try:
                value = np.datetime64(str(bound).strip().replace(" ", "T"), "ns")
            except ValueError:
                raise AirmapInputError(f"'{bound}' is not a date/time: write START and END as ISO dates, "
                                       "e.g. 2019-12-31 or 2019-12-31T06:00.") from None
            keep &= op(times, value)
    if not keep.any():
        raise AirmapInputError(f"No time step of {what} lies between START and END "
                               f"({np.datetime_as_string(times.min(), 'm')} to "
                               f"{np.datetime_as_string(times.max(), 'm')} available).")
    return keep


def open_archive(path: str, kind: str, params: Dict[str, object], start: Optional[str] = None,
                 end: Optional[str] = None):
    """The archive at ``path`` for a method of ``kind`` ('raster' or 'stations')."""
    path = str(path or "").strip()
    if not path:
        raise AirmapInputError("No INPUT was given: choose a NetCDF/Zarr archive, a folder of GeoTIFFs, "
                               "a multi-band raster or a station table.")
    if kind == "stations":
        return open_station_table(path, params, start, end)
    match = SUBDATASET.match(path)
    if match and os.path.exists(match.group("file")):
        return open_cf(match.group("file"), match.group("variable"), start, end)
    if not os.path.exists(path):
        raise AirmapInputError(f"INPUT '{path}' does not exist: check the path.")
    if path.rstrip("/").endswith(".zarr") or os.path.exists(os.path.join(path, ".zgroup")):
        return open_cf(path, params.get("VARIABLE"), start, end)
    if os.path.isdir(path):
        return open_geotiff_folder(path, start, end)
    if path.lower().endswith((".nc", ".nc4", ".cdf", ".h5", ".hdf5")):
        return open_cf(path, params.get("VARIABLE"), start, end)
    if path.lower().endswith((".csv", ".txt")):
        raise AirmapInputError(f"'{os.path.basename(path)}' is a table: choose a station method "
                               "(idw, kriging, pointconv) for it, or a raster archive for this method.")
    return open_band_stack(path, start, end)


# --- CF NetCDF / Zarr -----------------------------------------------------------------------

def _grid_mapping_crs(ds, var) -> Optional[str]:
    name = var.attrs.get("grid_mapping") or var.encoding.get("grid_mapping")
    if name and name in ds.variables:
        attrs = ds[name].attrs
        for key in ("crs_wkt", "spatial_ref"):
            if attrs.get(key):
                return str(attrs[key])
        try:
            from pyproj import CRS

            return CRS.from_cf(dict(attrs)).to_wkt()
        except Exception:
            return None
    return None


def _regular_axis(values: np.ndarray, name: str, source: str) -> float:
    steps = np.diff(values.astype(np.float64))
    if values.size < 2 or not np.allclose(steps, steps[0], rtol=1e-6, atol=1e-9 * max(1.0, abs(steps[0]))):
        raise AirmapInputError(f"'{source}': the {name} axis is not a regular grid: regrid it (e.g. with "
                               "gdalwarp or cdo remapbil) before a batch run.")
    return float(steps[0])


def open_cf(path: str, variable: Optional[str], start: Optional[str], end: Optional[str]) -> RasterArchive:
    import xarray as xr

    base = os.path.basename(path.rstrip("/"))
    try:
        if path.rstrip("/").endswith(".zarr") or os.path.isdir(path):
            ds = xr.open_zarr(path, chunks={})
        else:
            ds = xr.open_dataset(path, chunks={}, engine="netcdf4")
    except Exception as exc:
        raise AirmapInputError(f"Cannot open '{base}' as NetCDF/Zarr ({exc}): check the file.") from None
    candidates = [n for n, v in ds.data_vars.items() if v.ndim >= 3]
    if variable:
        if variable not in ds.data_vars:
            raise AirmapInputError(f"'{base}' has no variable '{variable}': choose one of "
                                   f"{', '.join(ds.data_vars) or 'none'}.")
        name = str(variable)
    elif len(candidates) == 1:
        name = candidates[0]
    else:
        raise AirmapInputError(f"'{base}' holds {len(candidates)} gridded variables ({', '.join(candidates) or 'none'}): "
                               "set VARIABLE in METHOD_PARAMETERS or give INPUT as NETCDF:\"file\":variable.")
    var = ds[name]
    time_dims = [d for d in var.dims if d in ds.coords and np.issubdtype(ds[d].dtype, np.datetime64)]
    if not time_dims:
        raise AirmapInputError(f"'{base}' variable '{name}' has no time axis (no dimension with CF time units "
                               f"among {', '.join(var.dims)}): a batch needs one; give the times as "
                               "'hours since …' units on the time coordinate.")
    tdim = time_dims[0]
    extra = [d for d in var.dims if d != tdim and d not in var.dims[-2:]]
    for d in extra:
        if var.sizes[d] != 1:
            raise AirmapInputError(f"'{base}' variable '{name}' has a dimension '{d}' of size {var.sizes[d]} "
                                   "besides time, y and x: select one level first.")
    var = var.isel({d: 0 for d in extra}).transpose(tdim, *var.dims[-2:])
    ydim, xdim = var.dims[1], var.dims[2]
    xs = np.asarray(ds[xdim].values if xdim in ds.coords else np.arange(var.sizes[xdim]), dtype=np.float64)
    ys = np.asarray(ds[ydim].values if ydim in ds.coords else np.arange(var.sizes[ydim]), dtype=np.float64)
    dx, dy = _regular_axis(xs, xdim, base), _regular_axis(ys, ydim, base)
    if dy > 0:  # south-up: rows flipped to north-up
        var, ys, dy = var.isel({ydim: slice(None, None, -1)}), ys[::-1], -dy
    crs = _grid_mapping_crs(ds, ds[name])
    if crs is None and ydim.lower() in ("lat", "latitude", "y") and xdim.lower() in ("lon", "longitude", "x") \
            and ydim.lower() != "y":
        crs = "EPSG:4326"
    if crs is None:
        raise AirmapInputError(f"'{base}' variable '{name}' has no grid_mapping and no lat/lon axes: add a CF "
                               "grid_mapping variable (the CRS) to the archive.")
    grid = Grid(Affine(dx, 0.0, xs[0] - dx / 2, 0.0, dy, ys[0] - dy / 2), xs.size, ys.size, crs)
    times = np.asarray(ds[tdim].values).astype("datetime64[ns]")
    keep = _time_window(times, start, end, base)
    frames = var.data[keep].astype(np.float32)
    fill = var.attrs.get("_FillValue", var.encoding.get("_FillValue"))
    if fill is not None and np.isfinite(fill):
        frames = frames.map_blocks(lambda b, f=np.float32(fill): np.where(b == f, np.nan, b), dtype=np.float32)
    return RasterArchive(frames, times[keep], grid, name, var.attrs.get("units"), [os.path.abspath(path)])


# --- GeoTIFF folder and band stacks -----------------------------------------------------------

def time_from_name(name: str) -> Optional[np.datetime64]:
    parsed = parse_time(name)
    if parsed is not None:
        return np.datetime64(parsed, "ns")
    match = TIME_IN_NAME.search(os.path.basename(name))
    if not match:
        return None
    y, mo, d, h, mi, s = (int(g) if g else 0 for g in match.groups())
    try:
        return np.datetime64(f"{y:04d}-{mo:02d}-{d:02d}T{h:02d}:{mi:02d}:{s:02d}", "ns")
    except ValueError:
        return None


def _read_frame(path: str, band: int) -> np.ndarray:
    with RasterReader(path) as reader:
        return reader.read(band)


def _same_grid(a: Grid, b: Grid) -> bool:
    return a.shape == b.shape and a.transform.almost_equals(b.transform) and \
        (a.crs == b.crs or (a.crs and b.crs and _crs_equal(a.crs, b.crs)))


def _crs_equal(a: str, b: str) -> bool:
    from rasterio.crs import CRS

    return CRS.from_user_input(a) == CRS.from_user_input(b)


def _lazy_frames(reads: Sequence[tuple], shape) -> object:
    import dask
    import dask.array as da

    return da.stack([da.from_delayed(dask.delayed(_read_frame, pure=True)(p, b), shape, dtype=np.float32)
                     for p, b in reads])


def open_geotiff_folder(folder: str, start: Optional[str], end: Optional[str]) -> RasterArchive:
    files = sorted(f for f in glob.glob(os.path.join(folder, "*")) if f.lower().endswith((".tif", ".tiff")))
    if not files:
        raise AirmapInputError(f"The folder '{folder}' holds no GeoTIFF (.tif): choose a folder of one "
                               "GeoTIFF per time step.")
    grid, units, times = None, None, []
    for f in files:
        with RasterReader(f) as reader:
            if reader.count != 1:
                raise AirmapInputError(f"'{os.path.basename(f)}' has {reader.count} bands: a folder archive "
                                       "holds one single-band GeoTIFF per time step.")
            if grid is None:
                grid, units, first = reader.grid, reader.units, f
            elif not _same_grid(grid, reader.grid):
                raise AirmapInputError(f"'{os.path.basename(f)}' is on another grid than '{os.path.basename(first)}' "
                                       f"({reader.grid.width} x {reader.grid.height} cells vs {grid.width} x "
                                       f"{grid.height}, or another origin, cell size or CRS): warp every file "
                                       "to one grid first (gdalwarp -te/-tr/-t_srs).")
            t = time_from_name(reader.band_names[0]) if reader.band_names else None
            t = t if t is not None else time_from_name(f)
        if t is None:
            raise AirmapInputError(f"No time in the name or band description of '{os.path.basename(f)}': name "
                                   "the files by time (e.g. pm25_2019-12-31T06.tif).")
        times.append(t)
    times = np.array(times, dtype="datetime64[ns]")
    if np.unique(times).size != times.size:
        raise AirmapInputError(f"Several files of '{folder}' have the same time: keep one file per time step.")
    order = np.argsort(times)
    keep = _time_window(times[order], start, end, folder)
    chosen = [files[i] for i in order[keep]]
    frames = _lazy_frames([(f, 1) for f in chosen], grid.shape)
    name = os.path.basename(os.path.normpath(folder))
    return RasterArchive(frames, times[order][keep], grid, name, units, [os.path.abspath(f) for f in chosen])


def open_band_stack(path: str, start: Optional[str], end: Optional[str]) -> RasterArchive:
    with RasterReader(path) as reader:
        grid, units, names, count, source = reader.grid, reader.units, reader.band_names, reader.count, reader.source
    times = [time_from_name(n) for n in names]
    if any(t is None for t in times):
        raise AirmapInputError(f"'{os.path.basename(path)}' has no time axis (band names such as '{names[0]}' are "
                               "not times): name the bands by time, or give a NetCDF with a CF time axis.")
    times = np.array(times, dtype="datetime64[ns]")
    if np.any(np.diff(times) <= np.timedelta64(0)):
        raise AirmapInputError(f"The band times of '{os.path.basename(path)}' do not increase: order the bands by time.")
    keep = _time_window(times, start, end, os.path.basename(path))
    frames = _lazy_frames([(path, int(b) + 1) for b in np.flatnonzero(keep)], grid.shape)
    name = os.path.splitext(os.path.basename(source_file(path)))[0]
    return RasterArchive(frames, times[keep], grid, name, units, [os.path.abspath(source_file(path))])


# --- long-format station tables ---------------------------------------------------------------

def _extent(text) -> Optional[tuple]:
    """'xmin,xmax,ymin,ymax' (QGIS extent order; a trailing ' [CRS]' is ignored)."""
    if text in (None, ""):
        return None
    parts = re.split(r"[,\s]+", str(text).split("[")[0].strip())
    try:
        xmin, xmax, ymin, ymax = (float(p) for p in parts[:4])
    except ValueError:
        raise AirmapInputError(f"EXTENT '{text}' is not 'xmin,xmax,ymin,ymax'.") from None
    return xmin, xmax, ymin, ymax


def open_station_table(path: str, params: Dict[str, object], start: Optional[str], end: Optional[str]) -> StationArchive:
    import pandas as pd

    if not os.path.isfile(path):
        raise AirmapInputError(f"INPUT '{path}' is not a file: a station method takes a long-format table "
                               "(CSV: one row per station and time).")
    try:
        table = pd.read_csv(path)
    except Exception as exc:
        raise AirmapInputError(f"Cannot read '{os.path.basename(path)}' as CSV ({exc}).") from None
    field = params.get("FIELD")
    cols = {k: str(params.get(k) or d) for k, d in (("TIME_FIELD", "time"), ("X_FIELD", "lon"), ("Y_FIELD", "lat"))}
    if not field:
        raise AirmapInputError(f"Set FIELD in METHOD_PARAMETERS to the value column of '{os.path.basename(path)}' "
                               f"(columns: {', '.join(map(str, table.columns))}).")
    for key, col in list(cols.items()) + [("FIELD", str(field))]:
        if col not in table.columns:
            raise AirmapInputError(f"'{os.path.basename(path)}' has no column '{col}' ({key}): columns are "
                                   f"{', '.join(map(str, table.columns))}.")
    times = pd.to_datetime(table[cols["TIME_FIELD"]], errors="coerce")
    if times.isna().all():
        raise AirmapInputError(f"Column '{cols['TIME_FIELD']}' of '{os.path.basename(path)}' holds no dates: "
                               "it is the time axis of the table (set TIME_FIELD).")
    table = table.assign(_t=times.values.astype("datetime64[ns]"))
    values = pd.to_numeric(table[str(field)], errors="coerce")
    x = pd.to_numeric(table[cols["X_FIELD"]], errors="coerce")
    y = pd.to_numeric(table[cols["Y_FIELD"]], errors="coerce")
    ok = values.notna() & x.notna() & y.notna() & table["_t"].notna()
    table = table.assign(_v=values, _x=x, _y=y)[ok]
    all_times = np.unique(table["_t"].values)
    keep = _time_window(all_times, start, end, os.path.basename(path))
    chosen = all_times[keep]
    crs = str(params.get("CRS") or "EPSG:4326")
    box = _extent(params.get("EXTENT"))
    if box is None:
        xmin, xmax, ymin, ymax = table["_x"].min(), table["_x"].max(), table["_y"].min(), table["_y"].max()
        pad = max(xmax - xmin, ymax - ymin) * 0.02   # stations on the box's edge stay inside
        box = (xmin - pad, xmax + pad, ymin - pad, ymax + pad)
    pixel = params.get("PIXEL_SIZE")
    pixel = float(pixel) if pixel not in (None, "") else max(box[1] - box[0], box[3] - box[2]) / AUTO_CELLS
    grid = Grid.from_extent(box[0], box[2], box[1], box[3], pixel, crs)
    frames = []
    for t in chosen:
        rows = table[table["_t"].values == t]
        frames.append(Stations(rows["_x"].values, rows["_y"].values, rows["_v"].values))
    return StationArchive(frames, np.asarray(chosen, dtype="datetime64[ns]"), grid, str(field),
                          params.get("UNITS") or None, [os.path.abspath(path)])
