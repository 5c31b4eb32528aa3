"""PointConv + UNet++ run strip by strip into a sink (a file writer), for maps larger than
memory: the result of ``core.pointconv.predict_pm25`` without holding any full-size array.

* The network input is assembled for the window each tile asks for (``ChannelWindows``):
  station channels from the station cells in the window, covariates resampled onto the
  window's part of the working grid, the padding to a multiple of 16 as ``run_network``'s.
* Finished tile rows of the prediction are scaled back to µg/m³ and, when the model ran on
  a coarser working grid, interpolated to the output rows as soon as the working rows they
  need have arrived (``RowResampler``).
* Residual kriging needs the whole field at the stations and over the grid: with it the run
  is ``predict_pm25``'s (whole arrays), handed on in strips.
"""
from __future__ import annotations

from typing import Callable, Dict, Optional, Tuple

import numpy as np

from .grid import Grid
from .errors import AirmapInputError
from .pointconv import (COVARIATE_LABELS, COVARIATES, DEFAULT_OVERLAP, DEFAULT_TILE, MULTIPLE, VARIANT_VARIABLES,
                        assemble_channels, channel_names, covariate_on_grid, predict_pm25, prepare_run)
from .progress import Progress, ensure
from .stations import Stations

Sink = Callable[[int, np.ndarray], None]   # (first output row, rows (n, W) float32)
OUT_ROWS = 64   # output rows interpolated at a time from the working grid


def stream_pm25(stations: Stations, grid: Grid, sink: Sink, *, covariates=None, met_stations=None,
                model_path: Optional[str] = None, device: str = "auto", threads: Optional[int] = None,
                resolution: str = "auto", tile: int = DEFAULT_TILE, overlap: int = DEFAULT_OVERLAP,
                residual_kriging: bool = False, strip_rows: int = 256,
                progress: Optional[Progress] = None) -> Tuple[str, int, list]:
    """``predict_pm25`` (same arguments) with the field handed to ``sink`` in row strips, in
    order. Returns (variant, working-grid factor, notes)."""
    from .onnx_runtime import run_tiled

    progress = ensure(progress)
    options = dict(covariates=covariates, met_stations=met_stations, model_path=model_path, device=device,
                   threads=threads, resolution=resolution)
    if residual_kriging:
        run = predict_pm25(stations, grid, tile=tile, overlap=overlap, residual_kriging=True, progress=progress,
                           **options)
        for r0 in range(0, grid.height, strip_rows):
            sink(r0, run.field[r0:r0 + strip_rows])
        return run.variant, run.factor, run.notes
    prep = prepare_run(stations, grid, **options)
    work = prep.work
    channels = ChannelWindows(prep.variant, prep.cells, prep.covariates, work, prep.scale)
    channels.check_covariates(strip_rows)
    progress.set(0.05)
    h, w = work.shape
    resampler = RowResampler(work, grid, sink) if prep.factor > 1 else None
    scale = np.float32(prep.scale)

    def finish(row0: int, rows: np.ndarray) -> None:   # rows of the padded working grid
        rows = rows[0, :max(0, h - row0), :w]
        if rows.shape[0] == 0:
            return
        field = (rows.astype(np.float32) * scale).astype(np.float32)    # = denormalise
        if resampler is None:
            sink(row0, field)
        else:
            resampler.add(row0, field)

    tile = max(MULTIPLE * 4, tile - tile % MULTIPLE)
    run_tiled(lambda a: prep.model(a[None])[0], channels, tile, min(overlap, tile // 4), multiple=MULTIPLE,
              progress=progress.sub(0.05, 0.95), sink=finish)
    progress.set(1.0)
    for note in prep.notes:
        progress.info(note)
    return prep.variant, prep.factor, prep.notes


class ChannelWindows:
    """``assemble_channels`` of the working grid padded to a multiple of 16, as an array-like
    (C, H', W') that builds the window it is sliced with."""

    def __init__(self, variant: str, cells: Dict[str, tuple], covariates: Dict[str, object], work: Grid,
                 scale: float):
        self.variant, self.cells, self.work, self.scale = variant, cells, work, scale
        self.covariates = {c: covariates.get(c) for c in COVARIATES}
        h, w = work.shape
        self.shape = (len(channel_names(variant)), h + (-h) % MULTIPLE, w + (-w) % MULTIPLE)

    def check_covariates(self, strip_rows: int) -> None:
        """The error ``covariate_on_grid`` gives for a covariate with no data in the extent,
        found strip by strip."""
        h, w = self.work.shape
        for c, value in self.covariates.items():
            if value is None:
                continue
            if not (hasattr(value, "grid") and hasattr(value, "data")):
                covariate_on_grid(value, self.work, COVARIATE_LABELS[c])   # an array: its shape and data
                continue
            if not any(np.isfinite(self._covariate(c, r0, min(h, r0 + strip_rows), 0, w)).any()
                       for r0 in range(0, h, strip_rows)):
                raise AirmapInputError(f"The {COVARIATE_LABELS[c]} raster has no data inside the extent: choose a "
                                       f"{COVARIATE_LABELS[c]} raster that covers the EXTENT, or leave it out.")

    def _covariate(self, c: str, r0: int, r1: int, c0: int, c1: int) -> np.ndarray:
        value = self.covariates[c]
        window = self.work.window(r0, c0, r1 - r0, c1 - c0)
        if hasattr(value, "grid") and hasattr(value, "data"):
            return _resample(value, window)
        return np.asarray(value, dtype=np.float32)[r0:r1, c0:c1]   # already on the working grid

    def __getitem__(self, key) -> np.ndarray:
        _, rows, cols = key
        r0, r1, _ = rows.indices(self.shape[1])
        c0, c1, _ = cols.indices(self.shape[2])
        h, w = self.work.shape
        sparse = {}
        for v in VARIANT_VARIABLES[self.variant]:
            cr, cc, means = self.cells[v]
            inside = (cr >= r0) & (cr < r1) & (cc >= c0) & (cc < c1)
            value, mask = np.zeros((2, r1 - r0, c1 - c0), dtype=np.float32)
            value[cr[inside] - r0, cc[inside] - c0] = means[inside]
            mask[cr[inside] - r0, cc[inside] - c0] = 1.0
            sparse[v] = (value, mask)
        # Covariates: rows/cols past the grid repeat its last row/col (run_network's edge padding).
        rr, ccs = np.minimum(np.arange(r0, r1), h - 1), np.minimum(np.arange(c0, c1), w - 1)
        covariates = {}
        for c in COVARIATES:
            if self.covariates[c] is not None:
                arr = self._covariate(c, int(rr[0]), int(rr[-1]) + 1, int(ccs[0]), int(ccs[-1]) + 1)
                covariates[c] = arr[np.ix_(rr - rr[0], ccs - ccs[0])]
        return assemble_channels(self.variant, sparse, covariates, self.scale)


def _resample(raster, window: Grid) -> np.ndarray:
    from .pointconv import resample_to_grid

    return resample_to_grid(raster.data, raster.grid, window)


class RowResampler:
    """``resample_prediction`` (bilinear at the output cell centres) for working-grid rows
    arriving in order: each output row is made once the two working rows it reads are in,
    and working rows no later output row reads are dropped."""

    def __init__(self, src: Grid, dst: Grid, sink: Sink):
        from scipy.ndimage import map_coordinates

        self._map = map_coordinates
        self.src, self.dst, self.sink = src, dst, sink
        self.cols = (dst.x_centres() - src.transform.c) / src.transform.a - 0.5
        self.rows = (dst.y_centres() - src.transform.f) / src.transform.e - 0.5
        # the last working row each output row reads (clamped: mode "nearest" at the edges)
        self.needs = np.clip(np.floor(self.rows).astype(np.int64) + 1, 0, src.height - 1)
        self.first_needed = np.clip(np.floor(self.rows).astype(np.int64), 0, src.height - 1)
        self.buffer = np.empty((0, src.width), np.float64)
        self.base = 0          # working row of buffer[0]
        self.done = 0          # output rows handed on

    def add(self, row0: int, rows: np.ndarray) -> None:
        if row0 != self.base + self.buffer.shape[0]:
            raise ValueError("working rows must arrive in order")
        self.buffer = np.concatenate([self.buffer, rows.astype(np.float64)])
        have = self.base + self.buffer.shape[0]          # working rows [base, have) are in
        complete = have == self.src.height
        stop = self.done
        while stop < self.dst.height and (complete or self.needs[stop] < have):
            stop += 1
        for first in range(self.done, stop, OUT_ROWS):   # small blocks: coordinates are float64 per cell
            last = min(stop, first + OUT_ROWS)
            rr, cc = np.meshgrid(self.rows[first:last], self.cols, indexing="ij")
            # rows outside [base, have) are only read where the whole field would clamp them too
            block = self._map(self.buffer, [rr - self.base, cc], order=1, mode="nearest").astype(np.float32)
            self.sink(first, block)
        self.done = max(self.done, stop)
        keep_from = int(self.first_needed[self.done]) if self.done < self.dst.height else have
        drop = max(0, keep_from - self.base)
        if drop:
            self.buffer = self.buffer[drop:]
            self.base += drop
