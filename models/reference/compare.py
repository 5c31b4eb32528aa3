"""Each new model beside the shipped one on the bench's held-out simulated sets, through the
plugin's own inference path (core/superres, core/frame_interp, core/pointconv, core/hfsdf) with
ONNX Runtime on the CPU, and the one-page ``summary.md``.

The sets are the bench sections' (bench/sections/deepcams.py, pointconv.py, hfsdf.py): the same
simulator seeds, sizes and station draws; ABPN is scored on every ``deepcams_frame_step``-th
hour (as the bench's quick mode does) to keep the 10-block network's CPU time inside the run.
"""
from __future__ import annotations

import multiprocessing as mp
import os
from typing import Dict, List, Tuple

import numpy as np

from .jobs import Sizes
from .simdata import DEEPCAMS_BENCH_SEED, DEEPCAMS_PIXEL, HFSDF_BENCH_REGIONS, HFSDF_DAYS, POINTCONV_BENCH_SEED

Scores = Dict[str, Dict[str, float]]   # row label -> metrics
HFSDF_FACTOR = 10
HFSDF_PIXEL = 5000.0


def _pooled(pred: List[np.ndarray], truth: List[np.ndarray]) -> Dict[str, float]:
    from ...core.metrics import score

    return score(np.concatenate([np.ravel(p) for p in pred]), np.concatenate([np.ravel(t) for t in truth]))


def deepcams_stacks(b: Dict[str, int], cache: str):
    from ...core.training_data import scenarios

    for sc in scenarios(b["deepcams_scenarios"], size=b["deepcams_size"], days=b["deepcams_days"],
                        seed=DEEPCAMS_BENCH_SEED, cache_dir=cache, pixel_size=DEEPCAMS_PIXEL):
        hourly = np.asarray(sc.pm25_hourly, np.float32)
        yield hourly[:(hourly.shape[0] - 1) // 3 * 3 + 1]


def abpn_scores(path: str, b: Dict[str, int], cache: str, threads: int, baseline: bool) -> Scores:
    from ...core.baselines import bicubic
    from ...core.deepcams import sr_pairs
    from ...core.superres import load_abpn, super_resolve

    model = load_abpn(path, device="cpu", threads=threads)
    pred, base, truth = [], [], []
    for hourly in deepcams_stacks(b, cache):
        coarse, fine = sr_pairs(hourly)
        frames = slice(0, None, b["deepcams_frame_step"])
        pred.append(super_resolve(coarse[frames], model))
        if baseline:
            base.append(bicubic(coarse[frames], 3))
        truth.append(fine[frames])
    out = {"space x3": _pooled(pred, truth)}
    if baseline:
        out["space x3 (bicubic)"] = _pooled(base, truth)
    return out


def xvfi_scores(path: str, b: Dict[str, int], cache: str, threads: int, baseline: bool) -> Scores:
    from ...core.baselines import linear_in_time
    from ...core.deepcams import block_mean
    from ...core.frame_interp import interpolate_frames, load_xvfi

    model = load_xvfi(path, device="cpu", threads=threads)
    acc: Dict[str, Tuple[list, list]] = {}
    for hourly in deepcams_stacks(b, cache):
        between = np.ones(hourly.shape[0], bool)
        between[::3] = False
        for grid_name, fields in (("fine", hourly), ("coarse", block_mean(hourly))):
            kept = fields[::3]
            rows = [(f"time x3 {grid_name}", interpolate_frames(kept, model))]
            if baseline:
                rows.append((f"time x3 {grid_name} (linear)", linear_in_time(kept, 3)))
            for label, full in rows:
                p, t = acc.setdefault(label, ([], []))
                p.append(full[between])
                t.append(fields[between])
    return {label: _pooled(p, t) for label, (p, t) in acc.items()}


def pointconv_scores(path: str, b: Dict[str, int], cache: str, threads: int, baseline: bool) -> Scores:
    """The bench's simulated rows: the same days and the same random stations, scored on the
    cells without a station; the variant of ``path``'s card decides whether met stations are fed."""
    from ...core import pointconv as pc
    from ...core.grid import Grid
    from ...core.onnx_runtime import load_model
    from ...core.station_points import idw_grid
    from ...core.stations import Stations
    from ..pointconv.data import PAPER_CELLS, simulator_days

    variant = load_model(path, pc.TASK, device="cpu").card["variant"]
    size = b["pointconv_size"]
    days = simulator_days(b["pointconv_days"], size, POINTCONV_BENCH_SEED, cache_dir=cache)
    grid = Grid.from_extent(0, 0, size, size, 1.0, None)
    xs, ys = grid.cell_centres()
    rng = np.random.default_rng(POINTCONV_BENCH_SEED)
    n = max(3, round(800 * size * size / PAPER_CELLS))
    pred, base, truth = [], [], []
    for day in days:
        cells = rng.choice(size * size, size=n, replace=False)
        met_cells = rng.choice(size * size, size=n, replace=False)
        r, c = np.unravel_index(cells, grid.shape)
        mr, mc = np.unravel_index(met_cells, grid.shape)
        st = Stations(xs[r, c], ys[r, c], day.pm25[r, c])
        met = {"rh": Stations(xs[mr, mc], ys[mr, mc], day.rh[mr, mc]),
               "wind_speed": Stations(xs[mr, mc], ys[mr, mc], day.wind_speed[mr, mc])} if variant == "met" else None
        hold = np.ones(grid.shape, bool)
        hold[r, c] = False
        field = pc.pointconv_grid(st, grid, covariates={"dem": day.dem, "urban": day.urban}, met_stations=met,
                                  model_path=path, threads=threads, device="cpu", resolution="output")
        pred.append(field[hold])
        if baseline:
            base.append(idw_grid(st, grid)[hold])
        truth.append(day.pm25[hold])
    out = {f"stations -> grid, {variant}": _pooled(pred, truth)}
    if baseline:
        out[f"stations -> grid, {variant} (IDW)"] = _pooled(base, truth)
    return out


def hfsdf_scores(path: str, b: Dict[str, int], cache: str, threads: int, baseline: bool) -> Scores:
    """The bench's first rows: hour 12 of day 3 of region 1001 (a training region's held-out
    day) and of unseen region 7, from 10x10 block means."""
    from ...core.baselines import bicubic
    from ...core.grid import Grid
    from ...core.hfsdf import Observations, load_decoder, reconstruct
    from ...core.metrics import score
    from ..hfsdf.data import block_mean, hourly_pm25

    size = b["hfsdf_size"]
    decoder = load_decoder(path, device="cpu", threads=threads)
    grid = Grid.from_extent(0, 0, size * HFSDF_PIXEL, size * HFSDF_PIXEL, HFSDF_PIXEL, None)
    out = {}
    regions = HFSDF_BENCH_REGIONS[:b["hfsdf_regions"]]
    if "hfsdf_only" in b:
        regions = [regions[b["hfsdf_only"]]]
    for seed, season in regions:
        truth = hourly_pm25(seed, season, size, HFSDF_DAYS, cache)[3 * 24 + 12].astype(np.float64)
        coarse = block_mean(truth, HFSDF_FACTOR)
        obs = Observations.from_raster(coarse, grid.coarsened(HFSDF_FACTOR))
        res = reconstruct(obs, grid, decoder=decoder, iterations=10, max_points=1024)
        label = f"region {seed} x{HFSDF_FACTOR}"
        out[label] = score(res.values, truth)
        if baseline:
            up = bicubic(coarse[None].astype(np.float32), HFSDF_FACTOR)[0]
            out[f"{label} (bicubic)"] = score(up, truth[:up.shape[0], :up.shape[1]])
    return out


SCORERS = {"abpn": abpn_scores, "xvfi": xvfi_scores, "pointconv_pm25": pointconv_scores,
           "pointconv_met": pointconv_scores, "hfsdf": hfsdf_scores}


def shipped_path(name: str) -> str:
    from ...core import pointconv as pc
    from ...core.frame_interp import DEFAULT_XVFI
    from ...core.hfsdf.reconstruct import DEFAULT_MODEL
    from ...core.superres import DEFAULT_ABPN

    if name.startswith("pointconv"):
        return pc.default_model_path(name.split("_")[1])
    return {"abpn": DEFAULT_ABPN, "xvfi": DEFAULT_XVFI, "hfsdf": DEFAULT_MODEL}[name]


def _score_task(args):
    name, version, path, bench, cache, threads = args
    try:
        return name, version, SCORERS[name](path, bench, cache, threads, baseline=version == "shipped"), None
    except Exception as exc:   # one model's failure must not hide the others' scores
        return name, version, {}, f"{type(exc).__name__}: {exc}"


def _tasks(versions: Dict[str, Dict[str, str]], bench: Dict[str, int]):
    """(name, version, path, bench) per scoring task; HF-SDF's regions are separate tasks (each
    takes a minute of CPU at the reference size)."""
    out = []
    for name, paths in versions.items():
        for version, path in paths.items():
            parts = [dict(bench, hfsdf_only=i) for i in range(bench["hfsdf_regions"])] if name == "hfsdf" else [bench]
            out += [(name, version, path, part) for part in parts]
    return out


COST = {"hfsdf": 4, "abpn": 3}   # relative CPU cost of a scoring task (others 1): more threads


class Scoring:
    """Scores of several model versions, computed in a pool of spawned processes in the
    background (the shipped models are scored while the new ones train)."""

    def __init__(self, versions: Dict[str, Dict[str, str]], sizes: Sizes, cache: str, processes: int):
        tasks = _tasks(versions, sizes.bench)
        self.pool = self.results = None
        if not tasks:
            return
        weights = [COST.get(name, 1) for name, *_ in tasks]
        args = [(n, v, p, b, cache, max(1, round(processes * w / sum(weights))))
                for (n, v, p, b), w in zip(tasks, weights)]
        self.count = len(args)
        self.pool = mp.get_context("spawn").Pool(min(len(args), max(1, processes)))
        self.results = self.pool.imap_unordered(_score_task, args)

    def collect(self, into: Dict[str, Dict[str, Scores]], errors: List[str], deadline: float) -> None:
        """Merge the scores into ``into`` ({name: {version: Scores}}) as they come, until
        ``deadline`` (time.time()); what is not done by then is reported in ``errors``."""
        import time

        if self.pool is None:
            return
        for done in range(self.count):
            try:
                name, version, sc, err = self.results.next(timeout=max(1.0, deadline - time.time()))
            except mp.TimeoutError:
                errors.append(f"{self.count - done} scoring task(s) stopped at the budget")
                self.pool.terminate()
                break
            into.setdefault(name, {}).setdefault(version, {}).update(sc)
            if err:
                errors.append(f"{name} ({version}): {err}")
        else:
            self.pool.close()
        self.pool.join()


def beats_shipped(scores: Dict[str, Scores]) -> Tuple[bool, float]:
    """(reference RMSE < shipped RMSE on every row both have, mean RMSE ratio)."""
    new, old = scores.get("reference", {}), scores.get("shipped", {})
    rows = [k for k in new if k in old]
    if not rows:
        return False, float("nan")
    ratios = [new[k]["RMSE"] / old[k]["RMSE"] for k in rows]
    return all(r < 1 for r in ratios), float(np.mean(ratios))


def _fmt(v) -> str:
    return f"{v:.3f}" if isinstance(v, float) else str(v)


def summary_markdown(run: Dict, shipped: Dict[str, Dict], scores: Dict[str, Dict[str, Scores]],
                     failures: Dict[str, str], errors: List[str]) -> str:
    lines = [f"# Reference-size training: {run['device']}", "",
             f"`{run['command']}` — {run['wall_s']:.0f} s in all (budget {run['budget_s']:.0f} s; simulator "
             f"data {run['data_s']:.0f} s on {run['processes']} processes; training window {run['window_s']:.0f} s)."
             f" Scores: the bench's held-out simulated sets ({'tiny smoke-test sizes' if run['tiny'] else 'bench sizes'}),"
             " ONNX Runtime on the CPU, the shipped model and the new one in the same run.", "",
             "| model | steps | train min | file MiB | weights | compact vs fp32 max rel. | beats shipped (RMSE) |",
             "|---|---|---|---|---|---|---|"]
    for name, info in shipped.items():
        better, ratio = beats_shipped(scores.get(name, {}))
        lines.append(f"| {name} | {info['steps']} | {info['train_minutes']:.1f} | {info['bytes'] / 2**20:.2f} | "
                     f"{info['storage'].split(';')[0]} | {info['compact_vs_float32_max_rel']:.1e} | "
                     f"{'yes' if better else 'no'} (RMSE ratio {ratio:.3f}) |")
    for name, why in failures.items():
        lines.append(f"| {name} | — | — | — | — | — | failed: {why} |")
    lines += ["", "| model | held-out set | method | RMSE | MAE | R | R² |", "|---|---|---|---|---|---|---|"]
    order = ("reference", "reference float32", "shipped")
    for name, by_version in scores.items():
        rows = []
        for version in order:
            for label, m in by_version.get(version, {}).items():
                # baseline rows are labelled "<set> (<baseline>)"
                held_out, method = (label[:label.index(" (")], label[label.index("(") + 1:-1]) if "(" in label \
                    else (label, version)
                rows.append((held_out, order.index(method) if method in order else len(order), method, m))
        for held_out, _, method, m in sorted(rows, key=lambda r: r[:2]):
            lines.append(f"| {name} | {held_out} | {method} | {_fmt(m['RMSE'])} | {_fmt(m['MAE'])} | "
                         f"{_fmt(m['R'])} | {_fmt(m['R2'])} |")
    if errors:
        lines += ["", "Scoring errors: " + "; ".join(errors)]
    lines += ["", "Ship a model only where it beats the shipped one on its bench rows (`make bench` with the "
              "file in place); its card holds the budget, device, steps and these scores "
              "(`metrics.bench_heldout_simulated`). Logs: `reference.log`."]
    return "\n".join(lines) + "\n"
