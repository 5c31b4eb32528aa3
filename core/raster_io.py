"""Raster reading and writing with rasterio: GeoTIFF and NetCDF variables (time stacks keep
their time stamps as band names), GeoTIFF output written atomically and never over an input."""
from __future__ import annotations

import os
import re
import tempfile
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Iterable, List, Optional, Sequence, Tuple

import numpy as np
import rasterio
import rasterio.windows
from rasterio.crs import CRS

from .errors import AirmapInputError
from .grid import Grid

ASSUMED_LATLON_NOTE = ("{name} has no CRS; its coordinates are longitude/latitude, so it is read "
                       "as WGS 84 (EPSG:4326).")
# GDAL's block cache defaults to 5 % of the RAM and keeps every block read until it is full
# (1.3 GB after reading a 1 GiB band by windows on a 24 GB machine): windowed reads and writes
# run with this bound, so memory stays flat in the raster size.
GDAL_CACHE_BYTES = 64 * 2 ** 20
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


class RasterReader:
    """An open raster read by band and by window, float32 with NaN no-data, north-up.

    ``read(band, window)`` reads one band's window only (rasterio windowed read), so callers
    bound memory by what they ask for; ``band(b)`` is a (1, H, W) view that reads on slicing
    (run_tiled takes it as its input). Use as a context manager or call ``close()``."""

    def __init__(self, path: str, variable: Optional[str] = None):
        uri = netcdf_uri(path, variable) if variable else path
        try:
            ds = rasterio.open(uri)
        except rasterio.errors.RasterioIOError as exc:
            raise AirmapInputError(f"Cannot read raster '{uri}' ({exc}): check the file path and format.") from exc
        try:
            if ds.count == 0 and ds.subdatasets:
                names = ", ".join(s.rsplit(":", 1)[-1] for s in ds.subdatasets)
                raise AirmapInputError(f"'{os.path.basename(path)}' holds several variables ({names}): "
                                       "choose one (e.g. load the variable as a layer in QGIS).")
            self.notes: List[str] = []
            crs = ds.crs.to_string() if ds.crs else None  # "EPSG:n" when it has a code
            if crs is None:
                if _looks_like_latlon(ds):
                    crs = "EPSG:4326"
                    self.notes.append(ASSUMED_LATLON_NOTE.format(name=os.path.basename(source_file(uri))))
                else:
                    raise AirmapInputError(f"'{os.path.basename(uri)}' has no CRS and is not a lon/lat grid: "
                                           "assign a CRS to the layer (Layer Properties > Source) and try again.")
        except BaseException:
            ds.close()
            raise
        self._ds = ds
        transform = ds.transform
        self.south_up = transform.e > 0   # rows from the south: flipped to north-up on reading
        if self.south_up:
            transform = rasterio.Affine(transform.a, 0, transform.c, 0, -transform.e,
                                        transform.f + transform.e * ds.height)
        self.grid = Grid(transform, ds.width, ds.height, crs)
        self.count = ds.count
        self.band_names = _band_names(ds)
        self.units = ds.units[0] if ds.units and ds.units[0] else ds.tags(1).get("units")
        self.source = source_file(uri)
        self.block_shape = ds.block_shapes[0] if ds.block_shapes else (256, 256)

    def __enter__(self) -> "RasterReader":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        self._ds.close()

    def read(self, band: int, window: Optional[Tuple[int, int, int, int]] = None,
             out: Optional[np.ndarray] = None) -> np.ndarray:
        """Band ``band`` (1-based) in ``window`` = (row0, col0, height, width) of the north-up
        grid (None: the whole band) as float32 with NaN for no-data and non-finite values."""
        row0, col0, h, w = window if window is not None else (0, 0, self.grid.height, self.grid.width)
        if self.south_up:
            file_row0 = self.grid.height - row0 - h
        else:
            file_row0 = row0
        win = rasterio.windows.Window(col0, file_row0, w, h)
        with rasterio.Env(GDAL_CACHEMAX=GDAL_CACHE_BYTES):
            values = self._ds.read(band, window=win, out_dtype="float32", out=out)
            mask = self._ds.read_masks(band, window=win)
        values[mask == 0] = np.nan
        values[~np.isfinite(values)] = np.nan
        if self.south_up:
            values = values[::-1]
        return values

    def read_bands(self, bands: Optional[Iterable[int]] = None) -> np.ndarray:
        """Bands (1-based; default all) as one (B, H, W) float32 array, read one band at a time
        (the peak is the result plus one band, not a masked float64 copy of every band)."""
        band_list = list(bands) if bands is not None else list(range(1, self.count + 1))
        values = np.empty((len(band_list),) + self.grid.shape, dtype=np.float32)
        for i, b in enumerate(band_list):
            values[i] = self.read(b)
        return values

    def has_data(self) -> bool:
        """True once any cell of any band is valid (reads row blocks until it finds one)."""
        return any(np.isfinite(self.read(b, w)).any() for b in range(1, self.count + 1) for w in self.row_windows())

    def minimum(self, band: int) -> float:
        """The band's minimum over its valid cells (NaN when it has none), read by row blocks."""
        low = np.nan
        for window in self.row_windows():
            rows = self.read(band, window)
            if np.isfinite(rows).any():
                low = np.nanmin([low, np.nanmin(rows)])
        return float(low)

    def band(self, band: int) -> "BandWindows":
        return BandWindows(self, band)

    def row_windows(self, rows: Optional[int] = None) -> Iterable[Tuple[int, int, int, int]]:
        """Full-width windows of ``rows`` rows (default: the file's block height)."""
        rows = int(rows or self.block_shape[0] or 256)
        for r0 in range(0, self.grid.height, rows):
            yield (r0, 0, min(rows, self.grid.height - r0), self.grid.width)


class BandWindows:
    """One band as a (1, H, W) array-like that reads only the window it is sliced with."""

    def __init__(self, reader: RasterReader, band: int):
        self._reader, self._band = reader, band
        self.shape = (1, reader.grid.height, reader.grid.width)

    def __getitem__(self, key) -> np.ndarray:
        _, rows, cols = key
        r0, r1, _ = rows.indices(self.shape[1])
        c0, c1, _ = cols.indices(self.shape[2])
        return self._reader.read(self._band, (r0, c0, r1 - r0, c1 - c0))[None]


def read_raster(path: str, variable: Optional[str] = None, bands: Optional[Iterable[int]] = None) -> Raster:
    """Read a raster (GeoTIFF, NetCDF variable or any GDAL source) as float32 with NaN no-data."""
    with RasterReader(path, variable) as reader:
        band_list = list(bands) if bands is not None else list(range(1, reader.count + 1))
        return Raster(reader.read_bands(band_list), reader.grid, [reader.band_names[b - 1] for b in band_list], reader.units,
                      reader.notes, reader.source)


def _same_file(a: str, b: str) -> bool:
    try:
        return os.path.exists(a) and os.path.exists(b) and os.path.samefile(a, b)
    except OSError:
        return False


def check_not_input(path: str, protect: Iterable[str] = ()) -> str:
    """The absolute output path; refuses one that is any of the inputs in ``protect``."""
    target = os.path.abspath(path)
    for item in protect:
        if item and (os.path.abspath(source_file(str(item))) == target or _same_file(source_file(str(item)), target)):
            raise AirmapInputError(f"The output '{path}' is one of the inputs: choose another output file.")
    return target


class RasterWriter:
    """A float32 GeoTIFF (DEFLATE, 256 x 256 tiles) written by row blocks into a temp file
    that replaces ``path`` only on ``close()``; ``abort()`` (or an exception inside ``with``)
    removes it, so no partial output is left. Rows of each band are written in order with
    ``write(band, first_row, rows)``; they are gathered to whole tile rows first (GDAL
    block-aligned writes), so memory holds at most one tile row per band."""

    def __init__(self, path: str, grid: Grid, count: int, band_names: Optional[Sequence[str]] = None,
                 units: Optional[str] = None, nodata: float = -9999.0, protect: Iterable[str] = ()):
        self.target = check_not_input(path, protect)
        self.grid, self.count, self.nodata = grid, int(count), np.float32(nodata)
        folder = os.path.dirname(self.target) or "."
        os.makedirs(folder, exist_ok=True)
        profile = dict(driver="GTiff", width=grid.width, height=grid.height, count=self.count,
                       dtype="float32", crs=CRS.from_user_input(grid.crs) if grid.crs else None,
                       transform=grid.transform, nodata=nodata, compress="deflate", predictor=3,
                       interleave="band", BIGTIFF="IF_SAFER")   # band by band: no read-modify-write of others
        self.block_rows = grid.height
        if grid.width >= 256 and grid.height >= 256:
            profile.update(tiled=True, blockxsize=256, blockysize=256)
            self.block_rows = 256
        fd, self.tmp = tempfile.mkstemp(suffix=".tif", prefix=".airmap-", dir=folder)
        os.close(fd)
        self._pending = {}   # band -> (first row, list of row arrays) not yet written
        try:
            self._ds = rasterio.open(self.tmp, "w", **profile)
            for i in range(self.count):
                if band_names is not None and i < len(band_names):
                    self._ds.set_band_description(i + 1, str(band_names[i]))
                if units:
                    self._ds.set_band_unit(i + 1, units)
            if units:
                self._ds.update_tags(units=units)
        except BaseException:
            self.abort()
            raise

    def __enter__(self) -> "RasterWriter":
        return self

    def __exit__(self, exc_type, *exc) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()

    def write(self, band: int, row0: int, rows: np.ndarray) -> None:
        """Rows ``row0``… of band ``band`` (0-based); NaN becomes no-data."""
        rows = np.asarray(rows, dtype=np.float32)
        if rows.ndim == 1:
            rows = rows[None]
        if rows.shape[1] != self.grid.width:
            raise ValueError(f"rows of width {rows.shape[1]} do not match grid width {self.grid.width}")
        first, parts = self._pending.get(band, (row0, []))
        if parts and first + sum(p.shape[0] for p in parts) != row0:
            raise ValueError("rows of a band must be written in order")
        parts.append(np.where(np.isfinite(rows), rows, self.nodata))
        self._pending[band] = (first, parts)
        self._flush(band, final=False)

    def _flush(self, band: int, final: bool) -> None:
        first, parts = self._pending.get(band, (0, []))
        if not parts:
            return
        block = np.concatenate(parts) if len(parts) > 1 else parts[0]
        end = first + block.shape[0]
        cut = end if final or end == self.grid.height else (end // self.block_rows) * self.block_rows
        if cut > first:
            n = cut - first
            with rasterio.Env(GDAL_CACHEMAX=GDAL_CACHE_BYTES):   # (1, n, W): rasterio writes it without a copy
                self._ds.write(block[None, :n], [band + 1], window=rasterio.windows.Window(0, first, self.grid.width, n))
            block = block[n:]
        self._pending[band] = (cut, [block] if block.shape[0] else [])

    def write_array(self, data: np.ndarray) -> None:
        """All bands at once (B, H, W) or (H, W), in tile rows."""
        arr = np.asarray(data)
        if arr.ndim == 2:
            arr = arr[None]
        if arr.shape[1:] != self.grid.shape:
            raise ValueError(f"data shape {arr.shape[1:]} does not match grid {self.grid.shape}")
        for b in range(arr.shape[0]):
            for r0 in range(0, self.grid.height, self.block_rows):
                self.write(b, r0, arr[b, r0:r0 + self.block_rows])

    def close(self) -> str:
        try:
            for band in list(self._pending):
                self._flush(band, final=True)
            self._ds.close()
            os.replace(self.tmp, self.target)
        except BaseException:
            self.abort()
            raise
        return self.target

    def abort(self) -> None:
        ds = getattr(self, "_ds", None)
        if ds is not None and not ds.closed:
            ds.close()
        if os.path.exists(self.tmp):
            os.remove(self.tmp)


def write_raster(path: str, data: np.ndarray, grid: Grid, band_names: Optional[Sequence[str]] = None,
                 units: Optional[str] = None, nodata: float = -9999.0, protect: Iterable[str] = ()) -> str:
    """Write float32 GeoTIFF (DEFLATE, tiled) via a temp file + rename; NaN becomes ``nodata``.

    Refuses to write over any path in ``protect`` (the inputs), so an input is never destroyed.
    """
    arr = np.asarray(data)
    if arr.ndim == 2:
        arr = arr[None]
    if arr.shape[1:] != grid.shape:
        raise ValueError(f"data shape {arr.shape[1:]} does not match grid {grid.shape}")
    with RasterWriter(path, grid, arr.shape[0], band_names, units, nodata, protect) as writer:
        writer.write_array(arr)
    return writer.target
