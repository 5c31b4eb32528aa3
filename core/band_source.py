"""Where the DeepCAMS networks read their input bands from: an array in memory, or an open
raster read by band and by window (``RasterReader``), so ABPN, XVFI and DeepCAMS run on
rasters larger than memory and give the same result as on the whole array.

Both sources answer the same questions: the normaliser of all bands (core/normalise.py),
whether a band has any data, rows of a band, and a band normalised and gap-filled as a
(1, H, W) array-like that ``run_tiled`` slices tile by tile.
"""
from __future__ import annotations

from typing import Iterator, Optional, Sequence, Tuple

import numpy as np

from .nodata import fill_nearest
from .normalise import Normaliser, fit_normaliser, fit_normaliser_streamed

HALO = 16        # cells of context read around a tile for gap filling (doubled while too few)
STRIP_ROWS = 256  # rows per window in the statistics passes


class ArrayBands:
    """(B, H, W) float32 in memory; gaps are filled over the whole band."""

    def __init__(self, data: np.ndarray):
        self.data = np.asarray(data, dtype=np.float32)
        self.count, self.height, self.width = self.data.shape
        self._filled: Tuple[Optional[tuple], Optional[np.ndarray]] = (None, None)

    def normaliser(self, card: Optional[dict]) -> Normaliser:
        return fit_normaliser(self.data, card)

    def has_data(self, band: int) -> bool:
        return bool(np.isfinite(self.data[band]).any())

    def rows(self, band: int, r0: int, r1: int) -> np.ndarray:
        return self.data[band, r0:r1]

    def filled(self, bands: Sequence[int], norm: Normaliser) -> np.ndarray:
        """(len(bands), H, W) normalised, every gap filled from the nearest valid cell (the last
        band filled is kept: consecutive frame pairs share a frame)."""
        planes = []
        for b in bands:
            key = (b, norm)
            if self._filled[0] != key:
                self._filled = (key, fill_nearest(norm.forward(self.data[b])))
            planes.append(self._filled[1])
        return np.stack(planes)


class ReaderBands:
    """An open ``RasterReader`` (0-based bands); every read is one band's window."""

    def __init__(self, reader, strip_rows: int = STRIP_ROWS, halo: int = HALO):
        self.reader = reader
        self.count = reader.count
        self.height, self.width = reader.grid.shape
        self.strip_rows, self.halo = int(strip_rows), int(halo)

    def _windows(self, band: int) -> Iterator[np.ndarray]:
        for window in self.reader.row_windows(self.strip_rows):
            yield self.reader.read(band + 1, window)

    def normaliser(self, card: Optional[dict]) -> Normaliser:
        return fit_normaliser_streamed(lambda: (w for b in range(self.count) for w in self._windows(b)), card)

    def has_data(self, band: int) -> bool:
        return any(np.isfinite(w).any() for w in self._windows(band))

    def rows(self, band: int, r0: int, r1: int) -> np.ndarray:
        return self.reader.read(band + 1, (r0, 0, r1 - r0, self.width))

    def filled(self, bands: Sequence[int], norm: Normaliser) -> "FilledWindows":
        return FilledWindows(lambda b, w: norm.forward(self.reader.read(b + 1, w)), list(bands),
                             self.height, self.width, self.halo)


class FilledWindows:
    """Bands (n, H, W) normalised and gap-filled, computed for the window they are sliced with.

    A gap cell takes the value of its nearest valid cell, as ``fill_nearest`` over the whole
    band would give: the window is read with a halo of context, and the halo is doubled until
    every gap cell inside the window is nearer to a valid cell in the halo than to the halo's
    edge (so no cell outside could be nearer), or the halo covers the band."""

    def __init__(self, read, bands: Sequence[int], height: int, width: int, halo: int = HALO):
        self._read, self._bands, self._halo = read, list(bands), max(1, int(halo))
        self.shape = (len(self._bands), height, width)

    def __getitem__(self, key) -> np.ndarray:
        _, rows, cols = key
        r0, r1, _ = rows.indices(self.shape[1])
        c0, c1, _ = cols.indices(self.shape[2])
        return np.stack([self._band(b, r0, r1, c0, c1) for b in self._bands])

    def _band(self, band: int, r0: int, r1: int, c0: int, c1: int) -> np.ndarray:
        from scipy.ndimage import distance_transform_edt

        height, width = self.shape[1:]
        inner = self._read(band, (r0, c0, r1 - r0, c1 - c0))
        if np.isfinite(inner).all():
            return inner
        halo = self._halo
        while True:
            y0, y1 = max(0, r0 - halo), min(height, r1 + halo)
            x0, x1 = max(0, c0 - halo), min(width, c1 + halo)
            whole = (y0, x0, y1, x1) == (0, 0, height, width)
            region = self._read(band, (y0, x0, y1 - y0, x1 - x0))
            missing = ~np.isfinite(region)
            if not missing.all():
                dist, (ri, ci) = distance_transform_edt(missing, return_indices=True)
                window = (slice(r0 - y0, r1 - y0), slice(c0 - x0, c1 - x0))
                if whole or dist[window].max() <= halo:
                    return region[ri[window], ci[window]]
            elif whole:
                return region[r0 - y0:r1 - y0, c0 - x0:c1 - x0]
            halo *= 2
