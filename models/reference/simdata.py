"""Simulator fields for the reference run, generated on every CPU core before training starts.

The trainers read their data through the simulator caches they already support (``--cache-dir``:
core.training_data scenarios for ABPN, XVFI and PointConv, hfsdf.data regions for HF-SDF), so
filling those caches in parallel here turns each trainer's serial data step into file reads.
The bench's held-out sets, which the summary scores on, are generated here too. torch-free.
"""
from __future__ import annotations

import multiprocessing as mp
import os
import time
from typing import Callable, Iterable, List, Tuple

from .jobs import DEEPCAMS_SEED, HFSDF_FIRST_REGION, POINTCONV_DATA_SEED, Sizes

HELD_OUT = 10_000                      # the trainers' held-out seed offset
DEEPCAMS_BENCH_SEED = 20_000           # bench/sections/deepcams.py
POINTCONV_BENCH_SEED = 90_004          # bench/sections/pointconv.py
POINTCONV_PIXEL = 10_000.0             # models/pointconv/data.py CELL_M
DEEPCAMS_PIXEL = 5_000.0               # core.training_data default
HFSDF_BENCH_REGIONS = ((1001, "summer"), (7, "winter"))   # bench/sections/hfsdf.py
HFSDF_DAYS = 4

Task = Tuple  # ("scenario", count, size, days, seed, pixel, index) | ("region", seed, season, size, days)


def _stream(count: int, size: int, days: int, seed: int, pixel: float) -> List[Task]:
    return [("scenario", count, size, days, seed, pixel, i) for i in range(count)]


def tasks(sizes: Sizes, groups: Iterable[str], seed: int) -> List[Task]:
    """Everything the selected groups train and are scored on, one task per scenario/region."""
    from ..hfsdf.data import regions

    groups = set(groups)
    dc, pc, hf = sizes.deepcams, sizes.pointconv, sizes.hfsdf
    out: List[Task] = []
    if groups & {"abpn", "xvfi"}:
        s = DEEPCAMS_SEED + seed
        out += _stream(dc["scenarios"], dc["size"], dc["days"], s, DEEPCAMS_PIXEL)
        out += _stream(dc["val_scenarios"], dc["size"], dc["days"], HELD_OUT + s, DEEPCAMS_PIXEL)
    if "pointconv" in groups:
        for days, seed_ in ((pc["days"], POINTCONV_DATA_SEED), (pc["val_days"], POINTCONV_DATA_SEED + HELD_OUT)):
            out += _stream(-(-days // 2), pc["size"], 2, seed_, POINTCONV_PIXEL)
    if "hfsdf" in groups:
        seeds = range(HFSDF_FIRST_REGION, HFSDF_FIRST_REGION + hf["regions"])
        out += [("region", s, season, hf["size"], HFSDF_DAYS) for s, season in regions(seeds)]
    out += bench_tasks(sizes.bench, groups)
    # the largest first, so the pool's last stragglers are small
    return sorted(dict.fromkeys(out), key=lambda t: -(t[2] ** 2 * t[3] if t[0] == "scenario" else t[3] ** 2 * t[4]))


def bench_tasks(b: dict, groups: Iterable[str]) -> List[Task]:
    """The bench's held-out sets that the selected groups are scored on (``Sizes.bench``)."""
    groups = set(groups)
    out: List[Task] = []
    if groups & {"abpn", "xvfi"}:
        out += _stream(b["deepcams_scenarios"], b["deepcams_size"], b["deepcams_days"], DEEPCAMS_BENCH_SEED,
                       DEEPCAMS_PIXEL)
    if "pointconv" in groups:
        out += _stream(-(-b["pointconv_days"] // 2), b["pointconv_size"], 2, POINTCONV_BENCH_SEED, POINTCONV_PIXEL)
    if "hfsdf" in groups:
        out += [("region", s, season, b["hfsdf_size"], HFSDF_DAYS) for s, season in HFSDF_BENCH_REGIONS[:b["hfsdf_regions"]]]
    return out


def run_task(task: Task, cache: str) -> float:
    """Generate one scenario/region into ``cache`` (nothing when it is there); seconds taken."""
    t0 = time.time()
    if task[0] == "scenario":
        from ...core.training_data import scenarios

        _, count, size, days, seed, pixel, index = task
        for _ in scenarios(count, size=size, days=days, seed=seed, cache_dir=cache, pixel_size=pixel, only=[index]):
            pass
    else:
        from ..hfsdf.data import hourly_pm25

        _, seed, season, size, days = task
        hourly_pm25(seed, season, size, days, cache)
    return time.time() - t0


def _worker(args):
    return run_task(*args)


def generate(all_tasks: List[Task], cache: str, processes: int, say: Callable[[str], None]) -> float:
    """Run ``all_tasks`` on ``processes`` worker processes; return the wall seconds."""
    os.makedirs(cache, exist_ok=True)
    t0 = time.time()
    # spawned workers: the parent may already hold a CUDA context, which a fork must not copy
    ctx = mp.get_context("spawn")
    with ctx.Pool(max(1, processes)) as pool:
        cpu = sum(pool.imap_unordered(_worker, [(t, cache) for t in all_tasks]))
    wall = time.time() - t0
    say(f"data: {len(all_tasks)} simulator scenarios/regions on {processes} processes in {wall:.0f} s "
        f"({cpu:.0f} s of CPU work)")
    return wall
