"""The batch engine: one method over an archive into one CF NetCDF or Zarr store, on Dask.

The output is cut into chunks of ``chunk_frames`` input frames along time (the store's time
chunks); each chunk is one dask task graph branch: read its frames (lazily, from the
archive), run the method (``methods``), write its region of the Zarr store (xarray
``to_zarr(region=…)``). The chunks go to the scheduler together (in-process, LocalCluster or
a user's cluster: ``scheduler``); each finished chunk is recorded in the store, so a run that
was interrupted and started again with the same arguments computes only the missing chunks.
A ``.nc`` output is assembled from that store at the end (written to a temp file and renamed,
and the store removed).

Model files are read once here and travel through the graph as bytes; each worker writes
them to its local disk once (named by their SHA-256) and keeps one ONNX session per model
(the session cache of core/onnx_runtime).
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
import time
from dataclasses import dataclass
from typing import Dict, Mapping, Optional, Tuple

import numpy as np

from ..errors import AirmapInputError, Cancelled
from ..grid import Grid
from ..progress import Progress, ensure
from .archive import open_archive
from .methods import BatchMethod, method as find_method
from .scheduler import connect, describe

DEFAULT_CHUNK = 8          # input frames per task / output time chunk
DONE_DIR = ".airmap-done"  # finished chunk markers inside the store while a run is incomplete
COMPLETE = ".airmap-complete"  # written last: every chunk of the store is finished
SCHEMA = 1


@dataclass
class BatchResult:
    output: str
    frames: int            # output time steps
    chunks: int
    computed: int          # chunks computed by this run
    skipped: int           # chunks found finished (a resumed run)
    seconds: float
    scheduler: str


@dataclass(frozen=True)
class ModelBlob:
    """A model file's bytes, shipped to the workers inside the task graph."""

    name: str
    sha256: str
    data: bytes

    def local_path(self) -> str:
        """The file on this machine (written once per machine, atomically)."""
        folder = os.path.join(tempfile.gettempdir(), "airmap-models")
        os.makedirs(folder, exist_ok=True)
        path = os.path.join(folder, f"{self.sha256}.onnx")
        if not os.path.exists(path):
            fd, tmp = tempfile.mkstemp(dir=folder, suffix=".part")
            with os.fdopen(fd, "wb") as fh:
                fh.write(self.data)
            os.replace(tmp, path)
        return path


def _blobs(spec: BatchMethod, params: Mapping) -> Dict[str, ModelBlob]:
    blobs = {}
    for name, default in spec.models.items():
        path = params.get(name) or default
        if not os.path.isfile(str(path)):
            raise AirmapInputError(f"{name} '{path}' does not exist: choose an .onnx model file.")
        with open(path, "rb") as fh:
            data = fh.read()
        blobs[name] = ModelBlob(os.path.basename(str(path)), hashlib.sha256(data).hexdigest(), data)
    return blobs


def _threads(params: Mapping) -> int:
    """ONNX threads of one task: THREADS, else this process's cores shared by its worker threads."""
    from ..onnx_runtime import available_cores

    if params.get("THREADS") not in (None, "", 0, "0"):
        return int(params["THREADS"])
    try:
        from distributed import get_worker

        share = get_worker().state.nthreads
    except (ImportError, ValueError, AttributeError):
        share = 1
    return max(1, available_cores() // max(1, share))


def compute_chunk(key: str, frames, tail: bool, params: Mapping, blobs: Mapping[str, ModelBlob],
                  grids: Tuple[Grid, Grid], span: Optional[Tuple[int, int, int, int]] = None) -> np.ndarray:
    """One task: the method over one block of frames (runs on a worker); ``grids``: the
    archive's grid and the output grid; ``span``: for a series method, (first frame given,
    first frame computed, stop, frames in the archive)."""
    spec = find_method(key)
    models = {name: blob.local_path() for name, blob in blobs.items()}
    if spec.kind == "raster":
        frames = np.asarray(frames, dtype=np.float32)
    if span is not None:
        return spec.run(frames, tail, params, models, _threads(params), grids=grids, span=span)
    return spec.run(frames, tail, params, models, _threads(params), grids=grids)


# --- CF layout ------------------------------------------------------------------------------------

def _out_times(times: np.ndarray, factor: int) -> np.ndarray:
    if factor == 1:
        return times
    steps = (times[1:] - times[:-1]).astype("timedelta64[ns]").astype(np.int64)
    out = [times[i] + np.timedelta64(int(round(steps[i] * j / factor)), "ns")
           for i in range(times.size - 1) for j in range(factor)]
    return np.array(out + [times[-1]], dtype="datetime64[ns]")


def _axes(grid: Grid):
    from rasterio.crs import CRS

    geographic = bool(CRS.from_user_input(grid.crs).is_geographic) if grid.crs else False
    x_attrs = {"standard_name": "longitude", "units": "degrees_east"} if geographic else \
        {"standard_name": "projection_x_coordinate", "units": "m"}
    y_attrs = {"standard_name": "latitude", "units": "degrees_north"} if geographic else \
        {"standard_name": "projection_y_coordinate", "units": "m"}
    return x_attrs, y_attrs


def crs_variable_attrs(grid: Grid) -> dict:
    """CF grid-mapping attributes (pyproj), plus the WKT and GDAL's GeoTransform."""
    from pyproj import CRS

    crs = CRS.from_user_input(grid.crs)
    try:
        attrs = crs.to_cf()
    except Exception:
        attrs = {"crs_wkt": crs.to_wkt()}
    attrs["spatial_ref"] = crs.to_wkt()
    t = grid.transform
    attrs["GeoTransform"] = " ".join(str(v) for v in (t.c, t.a, 0.0, t.f, 0.0, t.e))
    return {k: v for k, v in attrs.items() if v is not None}


def template(name: str, units: Optional[str], times: np.ndarray, grid: Grid, chunk: int, signature: dict,
             method_key: str):
    """The empty output dataset (lazy zeros) with every CF attribute and encoding."""
    import dask.array as da
    import xarray as xr

    x_attrs, y_attrs = _axes(grid)
    data = da.zeros((times.size, grid.height, grid.width), chunks=(chunk, grid.height, grid.width),
                    dtype=np.float32)
    var_attrs = {"grid_mapping": "crs", "long_name": f"{name} ({method_key}, airmap batch)"}
    if units:
        var_attrs["units"] = units
    ds = xr.Dataset(
        {name: (("time", "y", "x"), data, var_attrs), "crs": ((), np.int32(0), crs_variable_attrs(grid))},
        coords={"time": ("time", times, {"standard_name": "time", "axis": "T"}),
                "y": ("y", grid.y_centres(), dict(y_attrs, axis="Y")),
                "x": ("x", grid.x_centres(), dict(x_attrs, axis="X"))},
        attrs={"Conventions": "CF-1.8", "title": f"{name} by airmap:{method_key}",
               "source": "airmap batch (core/batch)", "airmap_batch": json.dumps(signature, sort_keys=True)})
    encoding = {name: {"chunks": (chunk, grid.height, grid.width), "dtype": "float32", "_FillValue": np.float32(np.nan)},
                "time": {"units": "seconds since 1970-01-01 00:00:00", "calendar": "proleptic_gregorian",
                         "dtype": "int64"}}
    return ds, encoding


# --- the run -----------------------------------------------------------------------------------------

def _store_for(output: str) -> str:
    low = output.lower().rstrip("/")
    if low.endswith(".zarr"):
        return output.rstrip("/")
    if low.endswith(".nc"):
        return output + ".partial.zarr"
    raise AirmapInputError(f"OUTPUT '{output}' must end in .nc (NetCDF) or .zarr (Zarr store).")


def _existing_signature(store: str) -> Optional[dict]:
    import zarr

    try:
        attrs = zarr.open_group(store, mode="r").attrs.asdict()
    except Exception:
        return None
    try:
        return json.loads(attrs.get("airmap_batch", "null"))
    except ValueError:
        return None


def _done(store: str) -> set:
    folder = os.path.join(store, DONE_DIR)
    return {int(n) for n in os.listdir(folder) if n.isdigit()} if os.path.isdir(folder) else set()


def _mark_done(store: str, k: int) -> None:
    folder = os.path.join(store, DONE_DIR)
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, str(k)), "w") as fh:
        fh.write("done\n")


def run_batch(method: str, input: str, output: str, parameters: Optional[Mapping] = None,
              start: Optional[str] = None, end: Optional[str] = None, scheduler: Optional[str] = None,
              chunk_frames: int = DEFAULT_CHUNK, progress: Optional[Progress] = None,
              on_chunk=None) -> BatchResult:
    """Apply ``method`` (its id without 'airmap:') over the archive ``input`` into ``output``
    (.nc or .zarr). ``parameters``: the method's own parameters (the names of its algorithm).
    ``scheduler``: None/'' in-process, 'local:N', or a scheduler address. ``on_chunk(k, done,
    total)`` is called after each finished chunk. Returns what was computed and skipped."""
    began = time.perf_counter()
    progress = ensure(progress)
    params = dict(parameters or {})
    spec = find_method(method)
    spec.check(params)
    chunk_frames = int(chunk_frames)
    if chunk_frames < 1:
        raise AirmapInputError(f"The time chunk must hold at least one frame, got {chunk_frames}.")
    output = os.path.abspath(str(output or ""))
    store = _store_for(output)
    archive = open_archive(input, spec.kind, params, start, end)
    if os.path.abspath(output) in archive.sources or os.path.abspath(input).rstrip("/") == output.rstrip("/"):
        raise AirmapInputError(f"The output '{output}' is the input: choose another OUTPUT.")
    if spec.check_times is not None:
        spec.check_times(archive.times)
    if spec.pairs and archive.times.size < 2:
        raise AirmapInputError(f"{spec.key} interpolates between time steps: the archive needs at least two "
                               "between START and END.")
    blobs = _blobs(spec, params)
    n_in = archive.times.size
    factor_t = spec.time_factor(params)
    out_times = _out_times(archive.times, factor_t) if spec.pairs else archive.times
    out_grid = spec.output_grid(archive.grid, params)
    out_chunk = chunk_frames * factor_t
    starts = list(range(0, n_in, chunk_frames))
    signature = {"schema": SCHEMA, "method": spec.key, "parameters": params, "input": str(input),
                 "start": start or "", "end": end or "", "chunk_frames": chunk_frames,
                 "models": {k: b.sha256 for k, b in blobs.items()}}
    if os.path.exists(output) and not output.endswith(".zarr"):
        raise AirmapInputError(f"OUTPUT '{output}' exists: choose a new file (a finished .nc is not overwritten).")

    with connect(scheduler) as client:   # an unreachable scheduler fails here, before any write
        previous = _existing_signature(store) if os.path.exists(store) else None
        if os.path.exists(store) and previous != signature:
            raise AirmapInputError(f"'{store}' exists and holds another run (method, parameters, input, "
                                   "times or models differ): choose another OUTPUT or delete it.")
        ds, encoding = template(archive.name, archive.units, out_times, out_grid, out_chunk, signature, spec.key)
        if previous is None:
            ds.to_zarr(store, mode="w", compute=False, encoding=encoding, consolidated=True)
        done = _done(store) if previous is not None else set()
        if os.path.exists(os.path.join(store, COMPLETE)):
            done = set(range(len(starts)))   # a finished store: nothing left to do
        todo = [k for k in range(len(starts)) if k not in done]
        if done:
            progress.info(f"Resuming: {len(done)} of {len(starts)} chunks are already finished.")
        writes = _chunk_writes(spec, archive, params, blobs, store, out_grid, starts, todo, chunk_frames)
        _execute(client, writes, store, len(done), len(starts), progress, on_chunk)
    with open(os.path.join(store, COMPLETE), "w") as fh:
        fh.write("all chunks written\n")
    shutil.rmtree(os.path.join(store, DONE_DIR), ignore_errors=True)   # complete: no chunk markers left
    if output.lower().endswith(".nc"):
        _to_netcdf(store, output, archive.name, out_chunk)
        shutil.rmtree(store)
    return BatchResult(output, int(out_times.size), len(starts), len(todo), len(done),
                       time.perf_counter() - began, describe(scheduler))


def _chunk_writes(spec: BatchMethod, archive, params: Mapping, blobs: Mapping[str, ModelBlob], store: str,
                  out_grid: Grid, starts, todo, chunk_frames: int):
    """(chunk index, delayed region write) of every chunk still to do: the frames it reads
    (lazily), the method on them (``compute_chunk``), its time region of the store."""
    import dask
    import dask.array as da
    import xarray as xr

    n_in, factor_t = archive.times.size, spec.time_factor(params)
    context = 0 if spec.context is None else int(spec.context(params, {n: b.local_path() for n, b in blobs.items()}))
    blob_keys = {name: dask.delayed(blob, pure=True, traverse=False) for name, blob in blobs.items()}
    writes = []
    for k in todo:
        i0 = starts[k]
        i1 = min(i0 + chunk_frames, n_in)
        tail = i1 == n_in
        read_to = i1 + 1 if spec.pairs and not tail else i1   # a time method also reads the next frame
        n_out = spec.out_frames(read_to - i0, tail, params)
        span = None
        if spec.context is not None:   # a series method also reads the frames of its time windows
            lo, hi = max(0, i0 - context), min(n_in, i1 + context)
            span, frames = (lo, i0, i1, n_in), archive.frames[lo:hi]
        else:
            frames = archive.frames[i0:read_to]   # a lazy dask slice, or the stations of those times
        block = dask.delayed(compute_chunk, pure=True)(spec.key, frames, tail, params, blob_keys,
                                                      (archive.grid, out_grid), span)
        arr = da.from_delayed(block, (n_out, out_grid.height, out_grid.width), dtype=np.float32)
        part = xr.Dataset({archive.name: (("time", "y", "x"), arr)})
        o0 = i0 * factor_t
        writes.append((k, part.to_zarr(store, region={"time": slice(o0, o0 + n_out)}, compute=False)))
    return writes


def _execute(client, writes, store: str, finished: int, total: int, progress: Progress, on_chunk) -> None:
    """Run the chunk writes (in order here, or all at once on the cluster) and record each
    finished chunk in the store as soon as it is written."""
    def record(k):
        nonlocal finished
        _mark_done(store, k)
        finished += 1
        progress.set(finished / total)
        if on_chunk:
            on_chunk(k, finished, total)

    progress.set(finished / max(1, total))
    if client is None:
        import dask

        for k, write in writes:
            progress.check()
            dask.compute(write, scheduler="synchronous")
            record(k)
        return
    from distributed import as_completed

    futures = {client.compute(write): k for k, write in writes}
    try:
        for future in as_completed(list(futures)):
            future.result()
            record(futures[future])
    except BaseException:
        client.cancel(list(futures))
        raise


def _to_netcdf(store: str, output: str, name: str, chunk: int) -> None:
    """The finished store as one NetCDF-4 file (time-chunked, compressed), atomically."""
    import xarray as xr

    with xr.open_zarr(store) as ds:
        _, h, w = ds[name].shape
        encoding = {name: {"zlib": True, "complevel": 4, "chunksizes": (min(chunk, ds.sizes["time"]), h, w),
                           "_FillValue": np.float32(np.nan), "dtype": "float32"},
                    "time": {"units": "seconds since 1970-01-01 00:00:00", "calendar": "proleptic_gregorian",
                             "dtype": "int64"}}
        folder = os.path.dirname(output) or "."
        fd, tmp = tempfile.mkstemp(suffix=".nc", prefix=".airmap-", dir=folder)
        os.close(fd)
        try:
            ds.to_netcdf(tmp, engine="netcdf4", encoding=encoding)
            os.replace(tmp, output)
        except BaseException:
            if os.path.exists(tmp):
                os.remove(tmp)
            raise
