"""Every method of airmap as a function of one frame (or one pair of frames), with the same
parameter names as its Processing algorithm, for ``core/batch``.

A raster method maps frame i to one output frame; a time method (lineartime, xvfi,
deepcams) maps the pair (i, i+1) to the FACTOR frames from i up to i+1, and the last frame
to itself, so any run of consecutive frames can be computed alone (one Dask task) and the
result equals running the method pair by pair. A station method maps the stations of one
time to a grid; SPIN, a series method, maps the stations of the chunk's times and of the
model's time window around them to the grid at the chunk's times. Model files are given as paths on the machine that computes (the engine
ships them to the workers).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Dict, List, Mapping, Optional, Tuple

import numpy as np

from ..errors import AirmapInputError
from ..onnx_runtime import DEVICES

COMMON = ("VARIABLE", "DEVICE", "THREADS", "UNITS")
STATION_TABLE = ("FIELD", "TIME_FIELD", "X_FIELD", "Y_FIELD", "CRS", "EXTENT", "PIXEL_SIZE")


def _number(params: Mapping, name: str, default, kind=float, what="a number"):
    value = params.get(name)
    if value in (None, ""):
        return default
    try:
        return kind(value)
    except (TypeError, ValueError):
        raise AirmapInputError(f"{name} must be {what}, got '{value}'.") from None


def _int(params: Mapping, name: str, default: Optional[int]) -> Optional[int]:
    return _number(params, name, default, int, "a whole number")


def _float(params: Mapping, name: str, default: Optional[float]) -> Optional[float]:
    return _number(params, name, default)


def device_of(params: Mapping) -> str:
    value = params.get("DEVICE", "auto")
    if value in (None, ""):
        return "auto"
    if isinstance(value, int) or str(value).isdigit():
        return DEVICES[int(value)]
    return str(value)


def _conserve(params: Mapping) -> bool:
    value = params.get("CONSERVE", True)
    return value if isinstance(value, bool) else str(value).lower() not in ("0", "false", "no", "off")


@dataclass(frozen=True)
class BatchMethod:
    key: str
    kind: str                       # "raster" or "stations"
    run: Callable                   # (frames, tail, params, models, threads, grids=(in, out)) -> (n, H', W')
    parameters: Tuple[str, ...] = ()
    models: Dict[str, str] = field(default_factory=dict)   # parameter -> default model file
    pairs: bool = False             # frame i needs frame i+1 (time refinement)
    space_factor: Callable[[Mapping], int] = lambda p: 1
    time_factor: Callable[[Mapping], int] = lambda p: 1
    grid_of: Optional[Callable] = None   # (input grid, params) -> output grid, when not refined
    # Series methods (SPIN): input frames needed either side of a chunk, from (params, local
    # model paths); the chunk then also gets span=(first frame given, first, stop, total).
    context: Optional[Callable[[Mapping, Mapping], int]] = None
    check_times: Optional[Callable[[np.ndarray], None]] = None   # refuses an archive's time axis

    def output_grid(self, grid, params: Mapping):
        if self.grid_of is not None:
            return self.grid_of(grid, params)
        factor = self.space_factor(params)
        return grid.refined(factor) if factor > 1 else grid

    def check(self, params: Mapping) -> None:
        allowed = set(self.parameters) | set(self.models) | set(COMMON) | \
            (set(STATION_TABLE) if self.kind == "stations" else set())
        unknown = sorted(set(params) - allowed)
        if unknown:
            raise AirmapInputError(f"METHOD_PARAMETERS of {self.key} has unknown name(s) {', '.join(unknown)}: "
                                   f"it takes {', '.join(sorted(allowed))}.")

    def out_frames(self, n_in: int, tail: bool, params: Mapping) -> int:
        """Output frames of a block of ``n_in`` input frames: for a time method the block ends
        with the next block's first frame, unless it holds the archive's last (``tail``)."""
        if not self.pairs:
            return n_in
        return self.time_factor(params) * (n_in - 1) + (1 if tail else 0)


# --- raster methods ---------------------------------------------------------------------------

def _per_frame(fn):
    def run(frames, tail, params, models, threads, grids=None):
        return np.stack([fn(f, params, models, threads) for f in frames]).astype(np.float32)
    return run


def _per_pair(pair_fn, last_fn):
    """Pairs (i, i+1) of a block whose last frame is the next block's first (unless ``tail``)."""
    def run(frames, tail, params, models, threads, grids=None):
        out = [pair_fn(frames[i], frames[i + 1], params, models, threads) for i in range(len(frames) - 1)]
        if tail:
            out.append(last_fn(frames[-1], params, models, threads)[None])
        return np.concatenate(out).astype(np.float32)
    return run


def _bicubic(frame, params, models, threads):
    from ..baselines import bicubic

    return bicubic(frame[None], _int(params, "FACTOR", 3))[0]


def _abpn_model(params, models, threads):
    from ..superres import load_abpn

    return load_abpn(models.get("MODEL") or models.get("MODEL_SPACE"), device_of(params), threads)


def _abpn(frame, params, models, threads):
    from ..superres import super_resolve

    return super_resolve(frame[None], _abpn_model(params, models, threads), tile=_int(params, "TILE", None),
                         conserve=_conserve(params))[0]


def _linear_pair(a, b, params, models, threads):
    from ..baselines import linear_in_time

    return linear_in_time(np.stack([a, b]), _int(params, "FACTOR", 3))[:-1]


def _xvfi_pair(a, b, params, models, threads):
    from ..frame_interp import interpolate_frames, load_xvfi

    model = load_xvfi(models.get("MODEL") or models.get("MODEL_TIME"), device_of(params), threads)
    return interpolate_frames(np.stack([a, b]), model, 3, tile=_int(params, "TILE", None))[:-1]


def _deepcams_pair(a, b, params, models, threads):
    from ..deepcams import deepcams
    from ..frame_interp import load_xvfi

    xvfi = load_xvfi(models.get("MODEL_TIME"), device_of(params), threads)
    abpn = _abpn_model(params, models, threads)
    return deepcams(np.stack([a, b]), xvfi, abpn, tile_space=_int(params, "TILE", None),
                    conserve=_conserve(params))[:-1]


def _hfsdf_grid(grid, params):
    from ..grid import Grid

    pixel = _float(params, "PIXEL_SIZE", None)
    if pixel is None:
        return grid
    xmin, ymin, xmax, ymax = grid.bounds
    return Grid.from_extent(xmin, ymin, xmax, ymax, pixel, grid.crs)


def _hfsdf():
    """HF-SDF of each frame's valid cells onto the output grid (the input grid at PIXEL_SIZE)."""
    def run(frames, tail, params, models, threads, grids=None):
        from ..hfsdf import MODES, SURFACES, Observations, load_decoder, reconstruct

        def choice(name, options):
            value = params.get(name, options[0])
            return options[int(value)] if isinstance(value, int) or str(value).isdigit() else str(value)

        mode, surface = choice("MODE", MODES), choice("SURFACE", SURFACES)
        decoder = load_decoder(models.get("MODEL"), device_of(params), threads) if mode == "coded" else None
        options = {k.lower(): _int(params, k, None) for k in
                   ("ITERATIONS", "STEPS", "MC_LEVELS", "MAX_POINTS", "SINGLE_MAP_ITERATIONS", "SEED")}
        options = {k: v for k, v in options.items() if v is not None}
        source, grid = grids
        return np.stack([reconstruct(Observations.from_raster(f, source), grid, mode=mode,
                                     surface=surface, decoder=decoder, **options).values
                         for f in frames]).astype(np.float32)
    return run


def _same(frame, params, models, threads):
    return np.asarray(frame, dtype=np.float32)


# --- station methods --------------------------------------------------------------------------

def _stations(fn):
    def run(frames, tail, params, models, threads, grids=None):
        return np.stack([fn(st, grids[1], params, models, threads) for st in frames]).astype(np.float32)
    return run


def _idw(st, grid, params, models, threads):
    from ..baselines import idw
    from ..baselines.idw import DEFAULT_K

    return idw(st, grid, power=_float(params, "POWER", 2.0), k=_int(params, "K_NEAREST", DEFAULT_K) or None,
               radius=_float(params, "SEARCH_RADIUS", None))


def _kriging(st, grid, params, models, threads):
    from ..baselines.kriging import NEIGHBOURS, VARIOGRAMS, ordinary_kriging

    variogram = params.get("VARIOGRAM", VARIOGRAMS[0])
    if isinstance(variogram, int) or str(variogram).isdigit():
        variogram = VARIOGRAMS[int(variogram)]
    return ordinary_kriging(st, grid, variogram=str(variogram),
                            neighbours=_int(params, "N_NEIGHBOURS", NEIGHBOURS) or None)


def _pointconv(st, grid, params, models, threads):
    from ..pointconv import predict_pm25

    return predict_pm25(st, grid, model_path=models.get("MODEL"), device=device_of(params), threads=threads).field


def _spin_window(params, models) -> Tuple[int, int]:
    from ..timeseries.infer import load_series_model

    return load_series_model("spin", models.get("MODEL"), device_of(params)).window


def _spin_check_times(times: np.ndarray) -> None:
    """SPIN's windows count hours: the archive's times must be one regular step apart."""
    steps = np.unique(np.diff(times.astype("datetime64[s]")).astype(np.int64))
    if steps.size > 1:
        raise AirmapInputError(f"SPIN needs a regular time axis, but the table's times are {steps.min()} s to "
                               f"{steps.max()} s apart (times without any value are missing): give every "
                               "time step at least one station value, or limit START/END to a regular period.")


def _spin():
    """SPIN at the grid's cell centres, over the chunk's times, with the model's own time
    windows of the whole archive (``time_windows``), so chunks equal one run over the whole
    series (airmap:spin without wind: the advection kernel gets no wind)."""
    def run(frames, tail, params, models, threads, grids=None, span=None):
        from ..timeseries.infer import TARGET_BATCH, load_series_model, time_windows

        lo, i0, i1, total = span
        model = load_series_model("spin", models.get("MODEL"), device_of(params))
        grid = grids[1]
        lon, lat, values = _series_of(frames, grid.crs)
        xs, ys = grid.cell_centres()
        glon, glat = _to_lonlat(xs.ravel(), ys.ravel(), grid.crs)
        out = np.full((i1 - i0, glon.size), np.nan, np.float32)
        length, keep = model.window
        for w0, w1, k0, k1 in time_windows(total, length, keep):
            a, b = max(k0, i0), min(k1, i1)
            if a >= b:
                continue
            window = values[:, w0 - lo:w1 - lo]
            for t0 in range(0, glon.size, TARGET_BATCH):
                t1 = min(glon.size, t0 + TARGET_BATCH)
                nodes = np.vstack([window, np.full((t1 - t0, w1 - w0), np.nan, np.float32)])
                wind = np.zeros(nodes.shape, np.float32)
                est = model.predict(np.r_[lon, glon[t0:t1]], np.r_[lat, glat[t0:t1]], nodes, wind, wind)
                out[a - i0:b - i0, t0:t1] = est[len(lon):, a - w0:b - w0].T
        return out.reshape(i1 - i0, grid.height, grid.width)
    return run


def _to_lonlat(x, y, crs):
    if not crs or str(crs).upper() in ("EPSG:4326", "OGC:CRS84"):
        return np.asarray(x, float), np.asarray(y, float)
    from pyproj import Transformer

    lon, lat = Transformer.from_crs(crs, "EPSG:4326", always_xy=True).transform(np.asarray(x, float),
                                                                               np.asarray(y, float))
    return np.asarray(lon), np.asarray(lat)


def _series_of(frames, crs):
    """(lon, lat, values (stations, frames)) of the stations in ``frames``, a station being a
    place (as ``series_from_records`` tells them apart), ordered as it orders them; several
    values of one place at one time are averaged."""
    x = np.concatenate([st.x for st in frames])
    y = np.concatenate([st.y for st in frames])
    v = np.concatenate([st.values for st in frames]).astype(np.float64)
    t = np.concatenate([np.full(len(st), j) for j, st in enumerate(frames)]).astype(np.int64)
    lon, lat = _to_lonlat(x, y, crs)
    keys = np.array([f"{a:.6f} {b:.6f}" for a, b in zip(lon, lat)])
    ids, first, station = np.unique(keys, return_index=True, return_inverse=True)
    flat = station.ravel() * len(frames) + t
    ok = np.isfinite(v)
    sums = np.bincount(flat[ok], weights=v[ok], minlength=ids.size * len(frames))
    counts = np.bincount(flat[ok], minlength=ids.size * len(frames))
    with np.errstate(invalid="ignore", divide="ignore"):
        table = np.where(counts > 0, sums / np.maximum(counts, 1), np.nan)
    return lon[first], lat[first], table.reshape(ids.size, len(frames)).astype(np.float32)


def _default_models() -> Dict[str, str]:
    from ..superres import DEFAULT_ABPN, MODEL_DIR
    import os

    return {"abpn": DEFAULT_ABPN, "xvfi": os.path.join(MODEL_DIR, "xvfi", "xvfi.onnx"),
            "pointconv": os.path.join(MODEL_DIR, "pointconv", "pointconv_pm25.onnx"),
            "hfsdf": os.path.join(MODEL_DIR, "hfsdf", "hfsdf.onnx"),
            "spin": os.path.join(MODEL_DIR, "spin", "spin.onnx")}


_M = _default_models()
_FACTOR = lambda p: _int(p, "FACTOR", 3)

METHODS: Dict[str, BatchMethod] = {m.key: m for m in (
    BatchMethod("bicubic", "raster", _per_frame(_bicubic), ("FACTOR",), space_factor=_FACTOR),
    BatchMethod("abpn", "raster", _per_frame(_abpn), ("TILE", "CONSERVE"), {"MODEL": _M["abpn"]},
                space_factor=lambda p: 3),
    BatchMethod("lineartime", "raster", _per_pair(_linear_pair, _same), ("FACTOR",), pairs=True,
                time_factor=_FACTOR),
    BatchMethod("xvfi", "raster", _per_pair(_xvfi_pair, _same), ("TILE",), {"MODEL": _M["xvfi"]}, pairs=True,
                time_factor=lambda p: 3),
    BatchMethod("deepcams", "raster", _per_pair(_deepcams_pair, _abpn), ("TILE", "CONSERVE"),
                {"MODEL_TIME": _M["xvfi"], "MODEL_SPACE": _M["abpn"]}, pairs=True,
                space_factor=lambda p: 3, time_factor=lambda p: 3),
    BatchMethod("hfsdf", "raster", _hfsdf(), (
        "PIXEL_SIZE", "MODE", "SURFACE", "ITERATIONS", "STEPS", "MC_LEVELS", "MAX_POINTS", "SINGLE_MAP_ITERATIONS",
        "SEED"), {"MODEL": _M["hfsdf"]}, grid_of=_hfsdf_grid),
    BatchMethod("idw", "stations", _stations(_idw), ("POWER", "K_NEAREST", "SEARCH_RADIUS")),
    BatchMethod("kriging", "stations", _stations(_kriging), ("VARIOGRAM", "N_NEIGHBOURS")),
    BatchMethod("pointconv", "stations", _stations(_pointconv), (), {"MODEL": _M["pointconv"]}),
    BatchMethod("spin", "stations", _spin(), (), {"MODEL": _M["spin"]},
                context=lambda p, models: sum(_spin_window(p, models)), check_times=_spin_check_times),
)}


def method(key: str) -> BatchMethod:
    spec = METHODS.get(str(key or "").lower().replace("airmap:", ""))
    if spec is None:
        raise AirmapInputError(f"METHOD '{key}' is not one a batch runs: choose one of {', '.join(METHODS)}.")
    return spec
