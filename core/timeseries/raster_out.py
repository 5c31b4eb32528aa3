"""An hourly raster stack written band block by band block, so memory holds one block of hours
(not the whole series): GeoTIFF via a temporary file renamed when complete, band
descriptions = ISO times, never over an input."""
from __future__ import annotations

import os
import tempfile
from typing import Iterable, Sequence

import numpy as np
import rasterio
from rasterio.crs import CRS

from ..errors import AirmapInputError
from ..grid import Grid
from ..raster_io import _same_file, source_file

NODATA = -9999.0


class BandStackWriter:
    """``with BandStackWriter(path, grid, names) as out: out.write(first_band, block)``."""

    def __init__(self, path: str, grid: Grid, band_names: Sequence[str], units: str = None,
                 protect: Iterable[str] = ()):
        self.target = os.path.abspath(path)
        for item in protect:
            if item and (os.path.abspath(source_file(str(item))) == self.target or
                         _same_file(source_file(str(item)), self.target)):
                raise AirmapInputError(f"The output '{path}' is one of the inputs: choose another output file.")
        self.grid, self.names, self.units = grid, list(band_names), units
        self.tmp = None
        self.dst = None

    def __enter__(self):
        folder = os.path.dirname(self.target) or "."
        os.makedirs(folder, exist_ok=True)
        fd, self.tmp = tempfile.mkstemp(suffix=".tif", prefix=".airmap-", dir=folder)
        os.close(fd)
        g = self.grid
        profile = dict(driver="GTiff", width=g.width, height=g.height, count=len(self.names), dtype="float32",
                       crs=CRS.from_user_input(g.crs) if g.crs else None, transform=g.transform, nodata=NODATA,
                       compress="deflate", predictor=3, interleave="band", BIGTIFF="IF_SAFER")
        if g.width >= 256 and g.height >= 256:
            profile.update(tiled=True, blockxsize=256, blockysize=256)
        self.dst = rasterio.open(self.tmp, "w", **profile)
        for i, name in enumerate(self.names):
            self.dst.set_band_description(i + 1, name)
            if self.units:
                self.dst.set_band_unit(i + 1, self.units)
        return self

    def write(self, first_band: int, block: np.ndarray) -> None:
        """``block`` (bands, H, W) as bands first_band .. (0-based)."""
        data = np.where(np.isfinite(block), block, NODATA).astype(np.float32)
        self.dst.write(data, indexes=list(range(first_band + 1, first_band + 1 + data.shape[0])))

    def __exit__(self, kind, exc, tb):
        self.dst.close()
        if kind is None:
            os.replace(self.tmp, self.target)
        elif os.path.exists(self.tmp):
            os.remove(self.tmp)
        return False
