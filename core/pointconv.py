"""PointConv + regression UNet++ inference, QGIS-free and torch-free (seed 004).

Stations of each network are averaged per grid cell into sparse (value, mask) grids, the
covariates are resampled to the grid, everything is normalised by the one function shared
with training (``assemble_channels``), padded to a multiple of 16, run through the ONNX model
in overlapping tiles, and scaled back to µg/m³.

Two shipped variants:
- ``met``:  PM2.5 + relative-humidity + wind-speed station networks (the paper's inputs);
- ``pm25``: PM2.5 stations alone (what most users have).
Both take DEM and urban fraction optionally: every covariate comes with a "present" flag
channel and the models were trained with covariates randomly withheld.

Cell size: the networks work in cells (PointConv kernels are 21 and 11 cells). What transfers
between grids is the station density in stations per cell, so by default the model runs on a
*working grid* whose cell size brings the density into the trained range, and the result is
resampled bilinearly to the requested grid (``resolution="auto"``; ``"output"`` runs on the
requested grid as is).
"""
from __future__ import annotations

import math
import os
from dataclasses import dataclass
from typing import Dict, List, Mapping, Optional, Sequence, Tuple, Union

import numpy as np

from .errors import AirmapInputError, ModelError
from .grid import Grid
from .progress import Progress, ensure
from .stations import Stations, average_per_cell

TASK = "pointconv"
NORMALISATION_KIND = "pointconv-v1"
MULTIPLE = 16          # four 2x2 poolings in the UNet++
PM25_SCALE_FLOOR = 1.0  # µg/m³: never divide by a smaller day mean
# Fixed divisors of the non-PM2.5 inputs (values stay positive so 0 can mean "no station").
DIVISORS = {"rh": 100.0, "wind_speed": 10.0, "dem": 1000.0, "urban": 1.0}
VARIANT_VARIABLES = {"met": ("pm25", "rh", "wind_speed"), "pm25": ("pm25",)}
COVARIATES = ("dem", "urban")
# Trained station density (station cells per grid cell): the paper's 1,500-2,500 pseudo-stations
# on 372 x 426 cells, down to its ~800-station test. A working grid is chosen inside this range.
TRAINED_DENSITY = (800 / (372 * 426), 2500 / (372 * 426))
DEFAULT_TILE, DEFAULT_OVERLAP = 512, 64
MODEL_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "models", "pointconv")
MODEL_FILES = {"met": "pointconv_met.onnx", "pm25": "pointconv_pm25.onnx"}

Covariate = Union[np.ndarray, "RasterLike"]


# --- the normalisation shared by training and inference -------------------------------------

def channel_names(variant: str) -> List[str]:
    """Input channels of a variant, in graph order: (value, mask) per station variable, then
    (value, present) per covariate."""
    if variant not in VARIANT_VARIABLES:
        raise ModelError(f"Unknown PointConv variant '{variant}' (expected met or pm25).")
    names = []
    for v in VARIANT_VARIABLES[variant]:
        names += [v, f"{v}_mask"]
    for c in COVARIATES:
        names += [c, f"{c}_present"]
    return names


def pm25_scale(values: np.ndarray) -> float:
    """The per-day PM2.5 scale: the mean of the station-cell values (floored at 1 µg/m³).

    Dividing by it makes the network work on relative concentrations, so a model trained on
    simulated levels transfers to a region or season with other absolute levels.
    """
    values = np.asarray(values, dtype=np.float64)
    values = values[np.isfinite(values)]
    if values.size == 0:
        raise AirmapInputError("No PM2.5 station has a usable value inside the grid.")
    return float(max(values.mean(), PM25_SCALE_FLOOR))


def assemble_channels(variant: str, sparse: Mapping[str, Tuple[np.ndarray, np.ndarray]],
                      covariates: Optional[Mapping[str, Optional[np.ndarray]]], scale: float) -> np.ndarray:
    """Normalised network input (C, H, W) float32.

    ``sparse``: variable -> (value grid, mask grid) with values at mask==1 cells (anything
    elsewhere is ignored); ``covariates``: name -> (H, W) array on the grid or None (absent);
    ``scale``: ``pm25_scale`` of the PM2.5 station values.
    """
    covariates = covariates or {}
    variables = VARIANT_VARIABLES[variant]
    missing = [v for v in variables if v not in sparse]
    if missing:
        raise AirmapInputError(f"The '{variant}' PointConv model needs station grids for {', '.join(missing)}.")
    shape = sparse["pm25"][0].shape
    out = np.zeros((len(channel_names(variant)), *shape), dtype=np.float32)
    k = 0
    for v in variables:
        value, mask = sparse[v]
        mask = (np.asarray(mask) > 0) & np.isfinite(value)
        divisor = scale if v == "pm25" else DIVISORS[v]
        out[k][mask] = np.asarray(value)[mask] / divisor
        out[k + 1][mask] = 1.0
        k += 2
    for c in COVARIATES:
        arr = covariates.get(c)
        if arr is not None:
            arr = np.asarray(arr, dtype=np.float64)
            if arr.shape != shape:
                raise ValueError(f"covariate {c} has shape {arr.shape}, grid is {shape}")
            if c == "urban":
                arr = np.clip(arr, 0.0, 1.0)
            # No data: sea level for the DEM (the shared DEM marks oceans so), no city for urban.
            out[k] = np.where(np.isfinite(arr), arr, 0.0) / DIVISORS[c]
            out[k + 1] = 1.0
        k += 2
    return out


def denormalise(prediction: np.ndarray, scale: float) -> np.ndarray:
    """Network output (relative concentration) -> µg/m³."""
    return (np.asarray(prediction, dtype=np.float32) * np.float32(scale)).astype(np.float32)


def normalisation_card() -> Dict[str, object]:
    """What goes in the model card's ``normalisation`` (checked at load time)."""
    return {"kind": NORMALISATION_KIND,
            "pm25": "divided by the mean of the day's station-cell values (floor 1 ug/m3); output multiplied back",
            "divisors": dict(DIVISORS),
            "no_data": "sparse channels 0 with mask 0; DEM NaN -> 0 m; urban NaN -> 0"}


# --- stations and covariates on the grid ----------------------------------------------------

def rasterise_stations(stations: Stations, grid: Grid, name: str = "PM2.5") -> Tuple[np.ndarray, np.ndarray, int]:
    """Sparse (value, mask) grids of the per-cell station means, and the number of cells filled."""
    rows, cols, means = station_cells(stations, grid, name)
    value = np.zeros(grid.shape, dtype=np.float32)
    mask = np.zeros(grid.shape, dtype=np.float32)
    value[rows, cols] = means
    mask[rows, cols] = 1.0
    return value, mask, int(rows.size)


def station_cells(stations: Stations, grid: Grid, name: str = "PM2.5") -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(rows, cols, float32 means) of the grid cells holding usable stations (what
    ``rasterise_stations`` puts in its grids), with the errors that say what to change."""
    usable, _ = stations.valid()
    if len(usable) == 0:
        raise AirmapInputError(f"No {name} station has a usable value: choose a layer with points and a "
                               "numeric field that is not all NULL.")
    rows, cols, means = average_per_cell(usable, grid)
    if rows.size == 0:
        raise AirmapInputError(f"None of the {len(usable)} {name} stations lies inside the extent: choose an "
                               "EXTENT that covers the stations (and check the layer's CRS).")
    return rows, cols, means.astype(np.float32)


class RasterLike:  # documentation only: anything with .data (B,H,W) or (H,W) and .grid
    data: np.ndarray
    grid: Grid


def resample_to_grid(data: np.ndarray, src: Grid, dst: Grid) -> np.ndarray:
    """Bilinear (averaging when the source is much finer) resampling of one band onto ``dst``;
    NaN where the source has no data or does not reach."""
    import rasterio.warp
    from rasterio.crs import CRS
    from rasterio.enums import Resampling

    data = np.asarray(data, dtype=np.float32)
    if data.ndim == 3:
        data = data[0]
    src_crs = CRS.from_user_input(src.crs) if src.crs else None
    dst_crs = CRS.from_user_input(dst.crs) if dst.crs else None
    if (src_crs is None) != (dst_crs is None):
        src_crs = dst_crs = src_crs or dst_crs  # one side unknown: take the two as the same CRS
    if src_crs is None:
        src_crs = dst_crs = CRS.from_epsg(4326)  # both unknown: any CRS, same on both sides
    ratio = min(abs(dst.res[0]) / abs(src.res[0]), abs(dst.res[1]) / abs(src.res[1])) if src_crs == dst_crs else 1.0
    method = Resampling.average if ratio >= 2 else Resampling.bilinear
    out = np.full(dst.shape, np.nan, dtype=np.float32)
    rasterio.warp.reproject(data, out, src_transform=src.transform, src_crs=src_crs, src_nodata=np.nan,
                            dst_transform=dst.transform, dst_crs=dst_crs, dst_nodata=np.nan, resampling=method)
    return out


def covariate_on_grid(value: Optional[Covariate], grid: Grid, name: str) -> Optional[np.ndarray]:
    """A covariate given as an (H, W) array on ``grid`` or as a raster (``.data``, ``.grid``)."""
    if value is None:
        return None
    if hasattr(value, "grid") and hasattr(value, "data"):
        out = resample_to_grid(value.data, value.grid, grid)
    else:
        out = np.asarray(value, dtype=np.float32)
        if out.shape != grid.shape:
            raise AirmapInputError(f"The {name} array is {out.shape}, the grid is {grid.shape}: give it as a "
                                   "raster so it can be resampled, or on the output grid.")
    if not np.isfinite(out).any():
        raise AirmapInputError(f"The {name} raster has no data inside the extent: choose a {name} raster that "
                               "covers the EXTENT, or leave it out.")
    return out


# --- variant and working grid ---------------------------------------------------------------

def choose_variant(met_stations: Optional[Mapping[str, Optional[Stations]]]) -> Tuple[str, List[str]]:
    """'met' when both RH and wind-speed stations are given, else 'pm25', with notes saying why."""
    given = {k: v for k, v in (met_stations or {}).items() if v is not None and len(v) > 0}
    unknown = sorted(set(given) - {"rh", "wind_speed"})
    if unknown:
        raise AirmapInputError(f"Unknown meteorological variable(s) {', '.join(unknown)}: "
                               "PointConv takes 'rh' and 'wind_speed' station networks.")
    if not given:
        return "pm25", ["No meteorological stations given: using the PM2.5-stations-only model."]
    if len(given) == 1:
        have = next(iter(given))
        lack = "wind speed" if have == "rh" else "relative humidity"
        return "pm25", [f"Only {'relative humidity' if have == 'rh' else 'wind speed'} stations were given; the "
                        f"meteorological model also needs {lack} stations, so the PM2.5-stations-only model is "
                        f"used and the {have} stations are ignored."]
    return "met", ["Using the model with PM2.5, relative-humidity and wind-speed stations."]


def working_grid(grid: Grid, station_cells: int, trained: Tuple[float, float] = TRAINED_DENSITY) -> Tuple[Grid, int]:
    """The grid the network runs on: ``grid`` coarsened by a whole factor when its station
    density (station cells per cell) is far below the trained range, so each kernel and the
    UNet++ see as many stations as in training. Returns (grid, factor)."""
    cells = grid.width * grid.height
    density = station_cells / cells
    low = trained[0]
    if density >= low / 2:
        return grid, 1
    # Coarsening by f multiplies the density by ~f^2 (cells merge; station cells merge less).
    factor = int(math.ceil(math.sqrt(low / max(density, 1e-12))))
    factor = max(1, min(factor, min(grid.width, grid.height) // 16 or 1))
    if factor == 1:
        return grid, 1
    xmin, ymin, xmax, ymax = grid.bounds
    work = Grid.from_extent(xmin, ymin, xmax, ymax, abs(grid.res[0]) * factor, grid.crs)
    return work, factor


def resample_prediction(field: np.ndarray, src: Grid, dst: Grid) -> np.ndarray:
    """Bilinear interpolation of a working-grid field at the output cell centres (same CRS)."""
    from scipy.ndimage import map_coordinates

    xs, ys = dst.cell_centres()
    col = (xs - src.transform.c) / src.transform.a - 0.5
    row = (ys - src.transform.f) / src.transform.e - 0.5
    return map_coordinates(field.astype(np.float64), [row, col], order=1, mode="nearest").astype(np.float32)


# --- model and run ----------------------------------------------------------------------------

def default_model_path(variant: str) -> str:
    return os.path.join(MODEL_DIR, MODEL_FILES[variant])


def check_card(card: Mapping[str, object], source: str) -> str:
    """The variant a PointConv card declares, after checking its normalisation and channels."""
    norm = card.get("normalisation", {})
    if not isinstance(norm, dict) or norm.get("kind") != NORMALISATION_KIND:
        raise ModelError(f"{source} uses normalisation {norm.get('kind') if isinstance(norm, dict) else norm!r}, "
                         f"this airmap expects '{NORMALISATION_KIND}': re-export the model.")
    variant = card.get("variant")
    if variant not in VARIANT_VARIABLES or card.get("inputs") != channel_names(variant):
        raise ModelError(f"{source} does not declare a PointConv variant with the expected input channels: "
                         "re-export it with models/pointconv/export.py.")
    return variant


@dataclass
class PointConvRun:
    """A prediction and how it was made (for logs and reports)."""

    field: np.ndarray
    variant: str
    model_path: str
    work_grid: Grid
    factor: int
    notes: List[str]


def run_network(predict, channels: np.ndarray, tile: int = DEFAULT_TILE, overlap: int = DEFAULT_OVERLAP,
                progress: Optional[Progress] = None) -> np.ndarray:
    """Pad (C, H, W) to a multiple of 16 — zeros for station and mask channels (no station),
    edge values for covariates — run ``predict`` in overlapping tiles, crop back to (H, W)."""
    from .onnx_runtime import run_tiled

    c, h, w = channels.shape
    ph, pw = (-h) % MULTIPLE, (-w) % MULTIPLE
    if ph or pw:
        padded = np.zeros((c, h + ph, w + pw), dtype=np.float32)
        padded[:, :h, :w] = channels
        n_cov = 2 * len(COVARIATES)
        padded[c - n_cov:] = np.pad(channels[c - n_cov:], ((0, 0), (0, ph), (0, pw)), mode="edge")
        channels = padded
    tile = max(MULTIPLE * 4, tile - tile % MULTIPLE)
    overlap = min(overlap, tile // 4)
    out = run_tiled(lambda a: predict(a[None])[0], channels, tile, overlap, multiple=MULTIPLE, progress=progress)
    return out[0, :h, :w]


def predict_pm25(stations: Stations, grid: Grid, *, covariates: Optional[Mapping[str, Optional[Covariate]]] = None,
                 met_stations: Optional[Mapping[str, Optional[Stations]]] = None, model_path: Optional[str] = None,
                 device: str = "auto", threads: Optional[int] = None, resolution: str = "auto",
                 tile: int = DEFAULT_TILE, overlap: int = DEFAULT_OVERLAP, residual_kriging: bool = False,
                 model=None, progress: Optional[Progress] = None) -> PointConvRun:
    """PM2.5 field (H, W) in µg/m³ on ``grid`` from station networks (all in the grid's CRS).

    ``residual_kriging``: krige the network's residuals at the stations onto the grid and add
    them (regression kriging), so station cells come out as kriging would give them while the
    network's structure stays between the stations. ``model``: an already loaded model (an
    ``OnnxModel``, or fine-tuning's torch stand-in with a ``card``) instead of ``model_path``.
    (core/pointconv_stream.py runs the same model strip by strip into files.)"""
    progress = ensure(progress)
    prep = prepare_run(stations, grid, covariates=covariates, met_stations=met_stations, model_path=model_path,
                       device=device, threads=threads, resolution=resolution, model=model)
    model, variant, model_path, notes, work, factor = (prep.model, prep.variant, prep.model_path, prep.notes,
                                                      prep.work, prep.factor)
    sparse = {}
    for name, (rows, cols, means) in prep.cells.items():
        value, mask = np.zeros(work.shape, np.float32), np.zeros(work.shape, np.float32)
        value[rows, cols], mask[rows, cols] = means, 1.0
        sparse[name] = (value, mask)
    cov = {c: covariate_on_grid(prep.covariates.get(c), work, COVARIATE_LABELS[c]) for c in COVARIATES}
    progress.set(0.05)
    channels = assemble_channels(variant, sparse, cov, prep.scale)
    pred = run_network(model, channels, tile, overlap, progress=progress.sub(0.05, 0.95))
    field = denormalise(pred, prep.scale)
    if factor > 1:
        field = resample_prediction(field, work, grid)
    if residual_kriging:
        def network_at(inputs: Stations, targets: Stations) -> np.ndarray:   # the same run from fewer stations
            from .station_methods import sample_cells

            run = predict_pm25(inputs, grid, covariates=covariates, met_stations=met_stations, model=model,
                               resolution=resolution, tile=tile, overlap=overlap)
            return sample_cells(run.field, grid, targets.x, targets.y)

        field = add_kriged_residuals(field, stations, grid, notes, network_at, progress.sub(0.95, 1.0))
    progress.set(1.0)
    for n in notes:
        progress.info(n)
    return PointConvRun(field, variant, model_path, work, factor, notes)


COVARIATE_LABELS = {"dem": "DEM", "urban": "urban-fraction"}


@dataclass
class PreparedRun:
    """What a PointConv run needs before the network: the checked model, the working grid,
    the station cells of each network on it (rows, cols, means) and the PM2.5 scale."""

    model: object
    variant: str
    model_path: str
    notes: List[str]
    work: Grid
    factor: int
    cells: Dict[str, Tuple[np.ndarray, np.ndarray, np.ndarray]]
    covariates: Dict[str, Optional[Covariate]]
    scale: float


def prepare_run(stations: Stations, grid: Grid, *, covariates=None, met_stations=None, model_path=None,
                device: str = "auto", threads: Optional[int] = None, resolution: str = "auto",
                model=None) -> PreparedRun:
    """Model, variant and working grid of a run (``predict_pm25``'s arguments), with the
    errors and notes that explain the choices."""
    from .onnx_runtime import load_model

    if resolution not in ("auto", "output"):
        raise AirmapInputError(f"resolution must be 'auto' or 'output', got '{resolution}'.")
    covariates = dict(covariates or {})
    unknown = sorted(k for k, v in covariates.items() if v is not None and k not in COVARIATES)
    if unknown:
        raise AirmapInputError(f"Unknown covariate(s) {', '.join(unknown)}: PointConv takes 'dem' and 'urban'.")
    variant, notes = choose_variant(met_stations)
    if model_path or model is not None:
        model = model if model is not None else load_model(model_path, TASK, device=device, threads=threads)
        model_path = model_path or getattr(model, "path", "model")
        declared = check_card(model.card, os.path.basename(model_path))
        if declared == "met" and variant != "met":
            raise AirmapInputError(f"{os.path.basename(model_path)} is a meteorological PointConv model: give both "
                                   "relative-humidity and wind-speed station layers, or choose a PM2.5-only model.")
        if declared == "pm25" and variant == "met":
            notes.append("The chosen model uses PM2.5 stations only; the meteorological stations are ignored.")
        variant = declared
    else:
        model_path = default_model_path(variant)
        model = load_model(model_path, TASK, device=device, threads=threads)
        check_card(model.card, os.path.basename(model_path))

    notes.append(f"PointConv model '{variant}' ({os.path.basename(model_path)}), ONNX Runtime provider "
                 f"{model.provider}.")
    # Working grid from the PM2.5 station density on the requested grid.
    n_cells = station_cells(stations, grid)[0].size
    work, factor = (grid, 1) if resolution == "output" else working_grid(grid, n_cells)
    if factor > 1:
        notes.append(f"{n_cells} PM2.5 station cells on {grid.width} x {grid.height} cells is sparser than the "
                     f"model was trained for; it runs on cells {factor} x larger ({work.width} x {work.height}) "
                     "and the result is interpolated to the output grid.")
    cells = {"pm25": station_cells(stations, work)}
    if variant == "met":
        for name, label in (("rh", "relative-humidity"), ("wind_speed", "wind-speed")):
            cells[name] = station_cells(met_stations[name], work, label)
    absent = [c for c in COVARIATES if covariates.get(c) is None]
    if absent:
        notes.append(f"No {' or '.join('DEM' if c == 'dem' else 'urban fraction' for c in absent)} given: the "
                     "model runs without it (trained for that, usually less accurate).")
    return PreparedRun(model, variant, model_path, notes, work, factor, cells, covariates,
                       pm25_scale(cells["pm25"][2]))


def add_kriged_residuals(field: np.ndarray, stations: Stations, grid: Grid, notes: List[str],
                         network_at=None, progress: Optional[Progress] = None) -> np.ndarray:
    """Regression kriging of the network's map ``field`` on ``stations`` (core/regression_kriging:
    out-of-sample residuals, network weight chosen by cross-validation at the stations).
    ``network_at(inputs, targets)``: the network's values at ``targets`` from ``inputs`` only;
    without it, weight 1 and the residuals in the stations' own cells."""
    from .regression_kriging import regression_kriging

    return regression_kriging(field, network_at, stations, grid, notes, progress=progress)


def pointconv_grid(stations: Stations, grid: Grid, *, covariates=None, met_stations=None, model_path=None,
                   progress: Optional[Progress] = None, **options) -> np.ndarray:
    """The station-method entry point (core/station_methods): PM2.5 field (H, W) on ``grid``.

    ``covariates``: {'dem': ..., 'urban': ...}, each an (H, W) array on ``grid`` or a raster
    (``.data``, ``.grid``) to resample; ``met_stations``: {'rh': Stations, 'wind_speed': Stations}.
    ``options``: device, threads, resolution, tile, overlap (see ``predict_pm25``).
    """
    return predict_pm25(stations, grid, covariates=covariates, met_stations=met_stations,
                        model_path=model_path, progress=progress, **options).field
