"""``python -m airmap.models.reference``: data on all cores, the trainers concurrently on one
device under their budgets, export and compact storage, scores against the shipped models,
``summary.md``. Writes at most ``MAX_FILES`` files into ``--out``; checkpoints, exports and the
simulator cache go to ``--work-dir``."""
from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from typing import Dict, List, Optional

from ..torch_device import device_label, resolve_device
from . import compare, simdata
from .jobs import FULL, GROUPS, TINY, Job, jobs
from .ship import ONNX_FILES, add_metrics, export_command, ship

DEFAULT_BUDGET_S = 510.0   # start to summary: inside the 9 minutes, with room for the device script's set-up
RESERVE_SHARE = 0.3        # of the budget, kept for the trainers' own validation, export and scoring
STARTUP_S = {"full": 25.0, "tiny": 0.0}   # per trainer process: imports, CUDA start, reading the cache
MIN_TRAIN_S = 3.0
MIN_SCORING_S = {"full": 30.0, "tiny": 300.0}   # scoring stops at the budget's end, but not sooner than this
GRACE_S = 90.0             # a trainer still running this long after its window is stopped
MAX_FILES = 8
LOG = "reference.log"
SUMMARY = "summary.md"


def parse_args(argv=None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(prog="python -m airmap.models.reference", description=__doc__.split("\n")[0])
    ap.add_argument("--only", action="append", choices=GROUPS,
                    help="train only this model (repeatable; pointconv = both variants); default all")
    ap.add_argument("--budget-s", type=float, default=DEFAULT_BUDGET_S,
                    help="wall-clock seconds for the whole command (data, training, export, summary)")
    ap.add_argument("--out", default="reference_out", help="folder for the files to bring back (<= 8 files)")
    ap.add_argument("--device", choices=("cuda", "cpu", "auto"), default="cuda")
    ap.add_argument("--seed", type=int, default=0, help="added to every trainer's seed")
    ap.add_argument("--work-dir", default=None, help="checkpoints, float32 exports, simulator cache "
                                                      "(default: a new folder under the system temp dir)")
    ap.add_argument("--processes", type=int, default=os.cpu_count() or 1,
                    help="CPU processes for the simulator and the scoring")
    ap.add_argument("--tiny", action="store_true", help="toy sizes (the CPU smoke test)")
    return ap.parse_args(argv)


@dataclass
class Running:
    job: Job
    proc: subprocess.Popen
    log: str
    started: float
    deadline: float
    minutes: float
    stage: str = "train"        # train -> export -> done / failed
    export_proc: Optional[subprocess.Popen] = None
    train_s: float = 0.0
    why: str = ""
    extra: Dict = field(default_factory=dict)


class Logger:
    def __init__(self, path: str):
        self.fh = open(path, "a")

    def __call__(self, msg: str) -> None:
        line = f"[{time.strftime('%H:%M:%S')}] {msg}"
        print(line, flush=True)
        self.fh.write(line + "\n")
        self.fh.flush()


def _env(threads: int) -> Dict[str, str]:
    return dict(os.environ, PYTHONUNBUFFERED="1", OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads))


def _start(cmd: List[str], log_path: str, threads: int) -> subprocess.Popen:
    fh = open(log_path, "a")
    fh.write("$ " + " ".join(cmd) + "\n")
    fh.flush()
    return subprocess.Popen(cmd, stdout=fh, stderr=subprocess.STDOUT, env=_env(threads))


def _tail(path: str, lines: int = 3) -> str:
    try:
        with open(path) as fh:
            return " | ".join(l.strip() for l in fh.readlines()[-lines:])
    except OSError:
        return ""


def train_all(selected: List[Job], device: str, window_end: float, mode: str, work: str, say: Logger,
              export_threads: int) -> List[Running]:
    """Start every job whose predecessor is done, each with --minutes = its share of the window
    (less the process start-up); export each as soon as it has trained. Returns when all are
    done or failed; a job past its window + GRACE_S is stopped."""
    window = window_end - time.time()
    pending = list(selected)
    running: List[Running] = []
    finished: Dict[str, Running] = {}
    while pending or any(r.stage in ("train", "export") for r in running):
        for job in list(pending):
            if job.after and job.after not in finished:
                if job.after not in [j.name for j in selected]:
                    pending.remove(job)   # its predecessor is not part of this run
                    say(f"{job.name}: skipped (needs {job.after})")
                continue
            pending.remove(job)
            if job.after and finished[job.after].stage == "failed":
                say(f"{job.name}: skipped ({job.after} failed)")
                continue
            seconds = min(job.share * window, window_end - time.time()) - STARTUP_S[mode]
            minutes = max(MIN_TRAIN_S, seconds) / 60
            log = os.path.join(work, f"{job.name}.log")
            cmd = [sys.executable, "-m", job.module] + job.argv + ["--minutes", f"{minutes:.3f}", "--device", device]
            proc = _start(cmd, log, 1)
            now = time.time()
            running.append(Running(job, proc, log, now, now + STARTUP_S[mode] + minutes * 60 + GRACE_S, minutes))
            say(f"{job.name}: training {minutes * 60:.0f} s on {device} (log {os.path.basename(log)})")
        for r in running:
            if r.stage == "train":
                rc = r.proc.poll()
                if rc is None and time.time() > r.deadline:
                    r.proc.kill()
                    r.proc.wait()
                    rc = "timeout"
                if rc is None:
                    continue
                r.train_s = time.time() - r.started
                if rc != 0 or not os.path.exists(r.job.checkpoint):
                    r.stage, r.why = "failed", f"trainer exit {rc}: {_tail(r.log)}"
                    say(f"{r.job.name}: FAILED ({r.why})")
                    finished[r.job.name] = r
                    continue
                onnx32 = os.path.join(work, ONNX_FILES[r.job.name])
                r.extra["float32"] = onnx32
                r.export_proc = _start(export_command(r.job.name, r.job.checkpoint, onnx32), r.log, export_threads)
                r.stage = "export"
                finished[r.job.name] = r   # a dependent may start from the checkpoint now
                say(f"{r.job.name}: trained in {r.train_s:.0f} s, exporting")
            elif r.stage == "export":
                rc = r.export_proc.poll()
                if rc is None and time.time() > r.deadline + GRACE_S:
                    r.export_proc.kill()
                    r.export_proc.wait()
                    rc = "timeout"
                if rc is None:
                    continue
                if rc != 0 or not os.path.exists(r.extra["float32"]):
                    r.stage, r.why = "failed", f"export exit {rc}: {_tail(r.log)}"
                    say(f"{r.job.name}: FAILED ({r.why})")
                else:
                    r.stage = "done"
                    say(f"{r.job.name}: exported")
        time.sleep(0.5)
    return running


def main(argv=None) -> int:
    args = parse_args(argv)
    t0 = time.time()
    mode = "tiny" if args.tiny else "full"
    sizes = TINY if args.tiny else FULL
    groups = args.only or list(GROUPS)
    dev = resolve_device(args.device)   # stops here, before anything is written, when CUDA is absent
    label = device_label(dev)
    out = os.path.abspath(args.out)
    os.makedirs(out, exist_ok=True)
    for name in list(ONNX_FILES.values()) + [SUMMARY, LOG, "hfsdf_coded.pt"]:
        if os.path.exists(os.path.join(out, name)):
            os.remove(os.path.join(out, name))   # a run never mixes its files with an older run's
    say = Logger(os.path.join(out, LOG))
    work = os.path.abspath(args.work_dir or tempfile.mkdtemp(prefix="airmap_reference_"))
    cache = os.path.join(work, "sim_cache")
    os.makedirs(work, exist_ok=True)

    command = "python -m airmap.models.reference " + " ".join(sys.argv[1:] if argv is None else argv)
    say(f"{command}: {', '.join(groups)} on {label}, budget {args.budget_s:.0f} s, work dir {work}")

    data_s = simdata.generate(simdata.tasks(sizes, groups, args.seed), cache, args.processes, say)
    window_end = t0 + args.budget_s * (1 - RESERVE_SHARE)
    window = max(MIN_TRAIN_S, window_end - time.time())
    window_end = time.time() + window
    selected = [j for j in jobs(sizes, work, cache, args.seed) if j.group in groups]
    # the shipped models are scored on the cores the trainers leave free, while they train
    spare = max(1, args.processes - len(selected) - 1)
    shipped_scoring = compare.Scoring({j.name: {"shipped": compare.shipped_path(j.name)} for j in selected},
                                      sizes, cache, spare)
    export_threads = max(1, args.processes // max(1, len(selected)))
    runs = train_all(selected, dev.type, window_end, mode, work, say, export_threads)

    shipped, failures, versions = {}, {}, {}
    run_info = {"command": command, "device": label, "budget_s": round(args.budget_s, 1)}
    for r in runs:
        if r.stage != "done":
            failures[r.job.name] = r.why
            continue
        try:
            path = os.path.join(out, ONNX_FILES[r.job.name])
            info = ship(r.extra["float32"], path, dict(run_info, train_window_s=round(r.minutes * 60, 1),
                                                        trainer_wall_s=round(r.train_s, 1)))
        except Exception as exc:   # noqa: BLE001 - reported, the other models still ship
            failures[r.job.name] = f"ship: {exc}"
            say(f"{r.job.name}: FAILED to ship ({exc})")
            continue
        info["train_minutes"] = r.minutes
        shipped[r.job.name] = info
        versions[r.job.name] = {"reference": path}
        if info["compacted"]:
            versions[r.job.name]["reference float32"] = r.extra["float32"]
        say(f"{r.job.name}: {os.path.basename(path)} {info['bytes'] / 2**20:.2f} MiB, {info['storage']}")
        if r.job.name == "hfsdf":
            shutil.copyfile(r.job.checkpoint, os.path.join(out, "hfsdf_coded.pt"))   # the bench's torch rows use it

    scores, errors = {}, []
    end = max(t0 + args.budget_s, time.time() + MIN_SCORING_S[mode])
    compare.Scoring(versions, sizes, cache, args.processes).collect(scores, errors, end)
    shipped_scoring.collect(scores, errors, end)
    for name, by_version in scores.items():
        if by_version.get("reference"):
            add_metrics(os.path.join(out, ONNX_FILES[name]), "bench_heldout_simulated",
                        {"reference": by_version["reference"], "shipped": by_version.get("shipped", {}),
                         "sets": "bench held-out simulated sets" + (" (tiny sizes)" if args.tiny else "")})
    for e in errors:
        say(f"scoring error: {e}")
    run = dict(run_info, wall_s=time.time() - t0, data_s=data_s, window_s=window, processes=args.processes,
               tiny=args.tiny)
    with open(os.path.join(out, SUMMARY), "w") as fh:
        fh.write(compare.summary_markdown(run, shipped, scores, failures, errors))
    for r in runs:   # each trainer's own log, after the run's, in the one log file
        say.fh.write(f"\n===== {r.job.name} ({os.path.basename(r.log)}) =====\n")
        with open(r.log) as fh:
            lines = fh.readlines()
        say.fh.writelines(lines[:40] + (["...\n"] if len(lines) > 240 else []) + lines[max(40, len(lines) - 200):])
    say(f"done in {time.time() - t0:.0f} s: {len(shipped)} models written to {out}"
        + (f"; failed: {', '.join(failures)}" if failures else ""))
    files = os.listdir(out)
    if len(files) > MAX_FILES:
        say(f"WARNING: {len(files)} files in {out}, more than {MAX_FILES}")
    return 0 if not failures and not errors else 1


if __name__ == "__main__":
    sys.exit(main())
