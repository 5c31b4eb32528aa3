"""Raster reading and writing with rasterio: GeoTIFF and NetCDF variables (time stacks keep
their time stamps as band names), GeoTIFF output written atomically and never over an input."""
from __future__ import annotations

import os
import re
import tempfile
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Iterable, List, Optional, Sequence

import numpy as np
import rasterio
from rasterio.crs import CRS

from .errors import AirmapInputError
from .grid import Grid

ASSUMED_LATLON_NOTE = ("{name} has no CRS; its coordinates are longitude/latitude, so it is read "
                       "as WGS 84 (EPSG:4326).")
_UNIT_SECONDS = {"second": 1, "seconds": 1, "s": 1, "minute": 60, "minutes": 60, "hour": 3600,
                 "hours": 3600, "h": 3600, "day": 86400, "days": 86400}


@dataclass
class Raster:
    """Bands as float32 (bands, H, W) with NaN where there is no data."""

    data: np.ndarray
    grid: Grid
    band_names: List[str]
    units: Optional[str] = None
    notes: List[str] = field(default_factory=list)
    source: Optional[str] = None


def netcdf_uri(path: str, variable: str) -> str:
    return f'NETCDF:"{path}":{variable}'


def source_file(uri: str) -> str:
    """The file behind a GDAL URI such as NETCDF:"x.nc":var (used to protect inputs)."""
    match = re.match(r'^[A-Z0-9_]+:"?([^"]+?)"?:[^:]+$', uri)
    return match.group(1) if match and os.path.exists(match.group(1)) else uri.split("|")[0]


def _parse_cf_times(values: Sequence[float], units: str) -> Optional[List[str]]:
    """CF 'hours since 2019-12-31T15:00:00' + offsets -> ISO strings; None if unparseable."""
    match = re.match(r"\s*(\w+)\s+since\s+(.+?)\s*$", units or "")
    if not match or match.group(1).lower() not in _UNIT_SECONDS:
        return None
    origin_text = match.group(2).replace("T", " ").replace("Z", "").strip()
    for fmt in ("%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%d"):
        try:
            origin = datetime.strptime(origin_text.split(".")[0], fmt)
            break
        except ValueError:
            continue
    else:
        return None
    step = _UNIT_SECONDS[match.group(1).lower()]
    return [(origin + timedelta(seconds=float(v) * step)).strftime("%Y-%m-%dT%H:%M:%S") for v in values]


def _band_names(ds) -> List[str]:
    """Time stamps for NetCDF stacks, else the band descriptions, else 'band n'."""
    tags = ds.tags()
    for dim in ("time", "valid_time", "t"):
        raw = [ds.tags(b).get(f"NETCDF_DIM_{dim}") for b in range(1, ds.count + 1)]
        if all(r is not None for r in raw):
            times = _parse_cf_times([float(r) for r in raw], tags.get(f"{dim}#units", ""))
            if times:
                return times
    return [d or f"band {i + 1}" for i, d in enumerate(ds.descriptions)]


def _looks_like_latlon(ds) -> bool:
    tags = ds.tags()
    has_axes = any(k.split("#")[0] in ("lat", "latitude") for k in tags) and \
        any(k.split("#")[0] in ("lon", "longitude") for k in tags)
    left, bottom, right, top = ds.bounds
    in_range = -181 <= left and right <= 361 and -91 <= bottom and top <= 91
    return has_axes and in_range


def read_raster(path: str, variable: Optional[str] = None, bands: Optional[Iterable[int]] = None) -> Raster:
    """Read a raster (GeoTIFF, NetCDF variable or any GDAL source) as float32 with NaN no-data."""
    uri = netcdf_uri(path, variable) if variable else path
    try:
        ds = rasterio.open(uri)
    except rasterio.errors.RasterioIOError as exc:
        raise AirmapInputError(f"Cannot read raster '{uri}' ({exc}): check the file path and format.") from exc
    with ds:
        if ds.count == 0 and ds.subdatasets:
            names = ", ".join(s.rsplit(":", 1)[-1] for s in ds.subdatasets)
            raise AirmapInputError(f"'{os.path.basename(path)}' holds several variables ({names}): "
                                   "choose one (e.g. load the variable as a layer in QGIS).")
        notes: List[str] = []
        crs = ds.crs.to_string() if ds.crs else None  # "EPSG:n" when it has a code
        if crs is None:
            if _looks_like_latlon(ds):
                crs = "EPSG:4326"
                notes.append(ASSUMED_LATLON_NOTE.format(name=os.path.basename(source_file(uri))))
            else:
                raise AirmapInputError(f"'{os.path.basename(uri)}' has no CRS and is not a lon/lat grid: "
                                       "assign a CRS to the layer (Layer Properties > Source) and try again.")
        band_list = list(bands) if bands is not None else list(range(1, ds.count + 1))
        data = ds.read(band_list, masked=True).astype(np.float32)
        values = data.filled(np.nan)
        values[~np.isfinite(values)] = np.nan
        transform = ds.transform
        if transform.e > 0:  # south-up grids (rows from the south) are flipped to north-up
            values = values[:, ::-1, :]
            transform = rasterio.Affine(transform.a, 0, transform.c, 0, -transform.e,
                                        transform.f + transform.e * ds.height)
        names = _band_names(ds)
        units = ds.units[0] if ds.units and ds.units[0] else ds.tags(1).get("units")
        grid = Grid(transform, ds.width, ds.height, crs)
        return Raster(values, grid, [names[b - 1] for b in band_list], units, notes, source_file(uri))


def _same_file(a: str, b: str) -> bool:
    try:
        return os.path.exists(a) and os.path.exists(b) and os.path.samefile(a, b)
    except OSError:
        return False


def write_raster(path: str, data: np.ndarray, grid: Grid, band_names: Optional[Sequence[str]] = None,
                 units: Optional[str] = None, nodata: float = -9999.0, protect: Iterable[str] = ()) -> str:
    """Write float32 GeoTIFF (DEFLATE, tiled) via a temp file + rename; NaN becomes ``nodata``.

    Refuses to write over any path in ``protect`` (the inputs), so an input is never destroyed.
    """
    target = os.path.abspath(path)
    for item in protect:
        if item and (os.path.abspath(source_file(str(item))) == target or _same_file(source_file(str(item)), target)):
            raise AirmapInputError(f"The output '{path}' is one of the inputs: choose another output file.")
    arr = np.asarray(data, dtype=np.float32)
    if arr.ndim == 2:
        arr = arr[None]
    if arr.shape[1:] != grid.shape:
        raise ValueError(f"data shape {arr.shape[1:]} does not match grid {grid.shape}")
    out = np.where(np.isfinite(arr), arr, np.float32(nodata)).astype(np.float32)
    folder = os.path.dirname(target) or "."
    os.makedirs(folder, exist_ok=True)
    profile = dict(driver="GTiff", width=grid.width, height=grid.height, count=arr.shape[0],
                   dtype="float32", crs=CRS.from_user_input(grid.crs) if grid.crs else None,
                   transform=grid.transform, nodata=nodata, compress="deflate", predictor=3)
    if grid.width >= 256 and grid.height >= 256:
        profile.update(tiled=True, blockxsize=256, blockysize=256)
    fd, tmp = tempfile.mkstemp(suffix=".tif", prefix=".airmap-", dir=folder)
    os.close(fd)
    try:
        with rasterio.open(tmp, "w", **profile) as dst:
            dst.write(out)
            for i in range(arr.shape[0]):
                if band_names is not None and i < len(band_names):
                    dst.set_band_description(i + 1, str(band_names[i]))
                if units:
                    dst.set_band_unit(i + 1, units)
            if units:
                dst.update_tags(units=units)
        os.replace(tmp, target)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise
    return target
