"""The reference configurations: one trainer command line per job, the data each needs, and
its share of the training window.

``FULL`` is what a GPU runs (the papers' network sizes; data and batch sizes chosen for an
H200, README.md); ``TINY`` is the same code path at toy sizes for the CPU smoke test. Every
job goes through the trainer's own command line (``python -m airmap.models.<name>.train``), so
the trainers stay the single place where training is defined.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Dict, List, Tuple

GROUPS = ("abpn", "xvfi", "pointconv", "hfsdf")


@dataclass(frozen=True)
class Sizes:
    """Data and network sizes of one kind of run (FULL or TINY)."""
    deepcams: Dict[str, int]          # ABPN/XVFI simulator stacks
    abpn: Tuple[str, ...]             # network/batch flags
    xvfi: Tuple[str, ...]
    pointconv: Dict[str, int]         # simulator days
    pointconv_net: Tuple[str, ...]
    hfsdf: Dict[str, int]             # simulated regions
    hfsdf_net: Tuple[str, ...]
    bench: Dict[str, int] = field(default_factory=dict)   # held-out sets of the summary


FULL = Sizes(
    deepcams={"scenarios": 96, "val_scenarios": 4, "size": 96, "days": 2},
    abpn=("--dim", "32", "--n-up", "10", "--batch", "32", "--patch", "16", "--bf16"),
    xvfi=("--nf", "64", "--batch", "16", "--crop", "64"),
    pointconv={"days": 480, "val_days": 12, "size": 96},
    pointconv_net=("--width-div", "1", "--batch", "16", "--station-noise", "0.2", "--bf16"),
    hfsdf={"regions": 24, "size": 240, "random_maps": 96},
    hfsdf_net=("--width", "512", "--latent", "256", "--depth", "8", "--batch", "32", "--points", "512"),
    # the bench's held-out sets (bench/sections/deepcams.py, pointconv.py, hfsdf.py)
    bench={"deepcams_scenarios": 6, "deepcams_days": 2, "deepcams_size": 96, "deepcams_frame_step": 4,
           "pointconv_days": 16, "pointconv_size": 96, "hfsdf_size": 240, "hfsdf_regions": 2},
)

TINY = Sizes(
    deepcams={"scenarios": 2, "val_scenarios": 1, "size": 48, "days": 1},
    abpn=("--dim", "4", "--n-up", "3", "--batch", "2", "--patch", "8"),
    xvfi=("--nf", "4", "--batch", "1", "--crop", "32"),
    pointconv={"days": 4, "val_days": 2, "size": 32},
    pointconv_net=("--width-div", "16", "--batch", "2"),
    hfsdf={"regions": 2, "size": 60, "random_maps": 2},
    hfsdf_net=("--width", "24", "--latent", "8", "--depth", "8", "--batch", "2", "--points", "64"),
    bench={"deepcams_scenarios": 1, "deepcams_days": 1, "deepcams_size": 48, "deepcams_frame_step": 8,
           "pointconv_days": 2, "pointconv_size": 32, "hfsdf_size": 60, "hfsdf_regions": 1},
)

DEEPCAMS_SEED = 0            # ABPN/XVFI training stream (held-out: + 10,000, bench: 20,000)
POINTCONV_DATA_SEED = 4      # PointConv training days (held-out: + 10,000, bench: 90,004)
POINTCONV_SEEDS = {"pm25": 4, "met": 7}   # weight seeds of the shipped models
HFSDF_FIRST_REGION = 1000    # HF-SDF training regions 1000, 1001, ...
MAX_STEPS = "1000000"        # the wall clock, not the step cap, ends every full run


@dataclass
class Job:
    name: str                 # also the ONNX file's stem
    group: str                # what --only selects
    module: str               # the trainer, run as python -m
    argv: List[str]           # trainer flags except --minutes / --device
    checkpoint: str           # what the trainer writes (file)
    share: float              # share of the training window
    after: str = ""           # job whose checkpoint this one starts from


def jobs(sizes: Sizes, work: str, cache: str, seed: int) -> List[Job]:
    """Every job of a run; ``work`` holds checkpoints, ``cache`` the simulator fields."""
    import os

    dc, pc, hf = sizes.deepcams, sizes.pointconv, sizes.hfsdf
    deepcams_data = ["--scenarios", str(dc["scenarios"]), "--val-scenarios", str(dc["val_scenarios"]),
                     "--size", str(dc["size"]), "--days", str(dc["days"]), "--cache-dir", cache,
                     "--seed", str(DEEPCAMS_SEED + seed), "--steps", MAX_STEPS]
    pointconv_data = ["--days", str(pc["days"]), "--val-days", str(pc["val_days"]), "--size", str(pc["size"]),
                      "--data-seed", str(POINTCONV_DATA_SEED), "--cache-dir", cache, "--steps", MAX_STEPS]
    pm25_ckpt = os.path.join(work, "pointconv_pm25.pt")
    return [
        Job("abpn", "abpn", "airmap.models.abpn.train",
            list(sizes.abpn) + deepcams_data + ["--out", os.path.join(work, "abpn")],
            os.path.join(work, "abpn", "abpn.pt"), 1.0),
        Job("xvfi", "xvfi", "airmap.models.xvfi.train",
            list(sizes.xvfi) + deepcams_data + ["--out", os.path.join(work, "xvfi")],
            os.path.join(work, "xvfi", "xvfi.pt"), 1.0),
        # the met model starts as the pm25 model (its README: trained alone it stays behind)
        Job("pointconv_pm25", "pointconv", "airmap.models.pointconv.train",
            ["--variant", "pm25", "--lr", "1e-3", "--seed", str(POINTCONV_SEEDS["pm25"] + seed)]
            + list(sizes.pointconv_net) + pointconv_data + ["--out", pm25_ckpt], pm25_ckpt, 0.55),
        Job("pointconv_met", "pointconv", "airmap.models.pointconv.train",
            ["--variant", "met", "--lr", "5e-4", "--seed", str(POINTCONV_SEEDS["met"] + seed),
             "--warm-start", pm25_ckpt] + list(sizes.pointconv_net) + pointconv_data
            + ["--out", os.path.join(work, "pointconv_met.pt")],
            os.path.join(work, "pointconv_met.pt"), 0.45, after="pointconv_pm25"),
        Job("hfsdf", "hfsdf", "airmap.models.hfsdf.train",
            list(sizes.hfsdf_net) + ["--sim-seeds", str(hf["regions"]), "--first-sim-seed", str(HFSDF_FIRST_REGION),
                                     "--size", str(hf["size"]), "--random-maps", str(hf["random_maps"]),
                                     "--seed", str(seed), "--cache-dir", cache,
                                     "--out", os.path.join(work, "hfsdf_coded.pt")],
            os.path.join(work, "hfsdf_coded.pt"), 1.0),
    ]
