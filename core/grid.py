"""The one raster grid concept of airmap: CRS, north-up transform and shape.

A ``Grid`` is what every layer agrees on: algorithms build one from EXTENT/PIXEL_SIZE or from
an input raster, core computes on arrays of its shape, and the writer georeferences with it.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Optional, Tuple

import numpy as np

from .errors import AirmapInputError

if TYPE_CHECKING:
    from affine import Affine


def _affine():
    """affine.Affine, imported when a grid is built: QGIS can then list the algorithms (whose
    modules import this one) before the plugin's Python packages are installed."""
    from affine import Affine

    return Affine


@dataclass(frozen=True)
class Grid:
    """A north-up grid: ``transform`` maps (col, row) of cell corners to (x, y)."""

    transform: Affine
    width: int
    height: int
    crs: Optional[str] = None  # WKT or "EPSG:n"; None = unknown

    def __post_init__(self):
        if self.width < 1 or self.height < 1:
            raise AirmapInputError(f"Grid of {self.width} x {self.height} cells is empty: "
                                   "choose a larger extent or a smaller pixel size.")
        if self.transform.b != 0 or self.transform.d != 0:
            raise AirmapInputError("Rotated rasters are not supported: warp the raster north-up first.")

    # --- construction -------------------------------------------------------------------
    @classmethod
    def from_extent(cls, xmin: float, ymin: float, xmax: float, ymax: float,
                    pixel_size: float, crs: Optional[str] = None) -> "Grid":
        """Square cells of ``pixel_size`` starting at the extent's upper-left corner.

        The grid covers the extent; the last row/column may reach past xmax/ymin.
        """
        if not pixel_size > 0 or not math.isfinite(pixel_size):
            raise AirmapInputError(f"Pixel size must be a positive number, got {pixel_size}: "
                                   "set PIXEL_SIZE to a value greater than zero.")
        if not (xmax > xmin and ymax > ymin):
            raise AirmapInputError("The extent is empty: choose an EXTENT with a non-zero width and height.")
        # A tiny tolerance keeps an extent that is an exact multiple from gaining a column.
        width = max(1, math.ceil((xmax - xmin) / pixel_size - 1e-9))
        height = max(1, math.ceil((ymax - ymin) / pixel_size - 1e-9))
        if width * height > 200_000_000:
            raise AirmapInputError(f"The output would have {width} x {height} cells: "
                                   "choose a larger PIXEL_SIZE or a smaller EXTENT.")
        return cls(_affine()(pixel_size, 0.0, xmin, 0.0, -pixel_size, ymax), width, height, crs)

    # --- geometry -----------------------------------------------------------------------
    @property
    def shape(self) -> Tuple[int, int]:
        return (self.height, self.width)

    @property
    def res(self) -> Tuple[float, float]:
        return (self.transform.a, -self.transform.e)

    @property
    def bounds(self) -> Tuple[float, float, float, float]:
        """(xmin, ymin, xmax, ymax) of the cell edges."""
        x0, y0 = self.transform.c, self.transform.f
        x1 = x0 + self.transform.a * self.width
        y1 = y0 + self.transform.e * self.height
        return (min(x0, x1), min(y0, y1), max(x0, x1), max(y0, y1))

    def x_centres(self) -> np.ndarray:
        return self.transform.c + self.transform.a * (np.arange(self.width) + 0.5)

    def y_centres(self) -> np.ndarray:
        return self.transform.f + self.transform.e * (np.arange(self.height) + 0.5)

    def cell_centres(self) -> Tuple[np.ndarray, np.ndarray]:
        """2-D arrays (x, y) of cell centres, shape (height, width)."""
        return np.meshgrid(self.x_centres(), self.y_centres())

    def rowcol(self, x: np.ndarray, y: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
        """Integer (row, col) of the cells holding points; may fall outside the grid."""
        col = np.floor((np.asarray(x, float) - self.transform.c) / self.transform.a).astype(np.int64)
        row = np.floor((np.asarray(y, float) - self.transform.f) / self.transform.e).astype(np.int64)
        return row, col

    def contains(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        row, col = self.rowcol(x, y)
        return (row >= 0) & (row < self.height) & (col >= 0) & (col < self.width)

    # --- derived grids ------------------------------------------------------------------
    def refined(self, factor: int) -> "Grid":
        """The same area with every cell split ``factor`` x ``factor``."""
        factor = int(factor)
        if factor < 1:
            raise AirmapInputError(f"FACTOR must be a whole number of at least 1, got {factor}.")
        t = self.transform
        return Grid(_affine()(t.a / factor, 0.0, t.c, 0.0, t.e / factor, t.f),
                    self.width * factor, self.height * factor, self.crs)

    def coarsened(self, factor: int) -> "Grid":
        """Cells merged ``factor`` x ``factor`` (partial blocks at the edges dropped)."""
        factor = int(factor)
        t = self.transform
        return Grid(_affine()(t.a * factor, 0.0, t.c, 0.0, t.e * factor, t.f),
                    self.width // factor, self.height // factor, self.crs)

    def window(self, row0: int, col0: int, height: int, width: int) -> "Grid":
        """The sub-grid of a window (used for tiles)."""
        return Grid(self.transform * _affine().translation(col0, row0), width, height, self.crs)
