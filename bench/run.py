"""`make bench`: run every benchmark section and write bench/RESULTS.md.

Each module in bench/sections/ exposing ``section(quick: bool) -> str`` is a section; it
measures a method and its baseline in the same run and returns Markdown. Sections are kept
between markers, so `--only NAME` re-measures one section and keeps the others as they were
(each section carries its own command, machine and date line).

    python -m airmap.bench.run                 # all sections -> bench/RESULTS.md
    python -m airmap.bench.run --only baselines
    python -m airmap.bench.run --quick --out /tmp/r.md   # smoke run (tests)
"""
import argparse
import datetime
import importlib
import os
import pkgutil
import platform
import re
import subprocess
import sys
import time
import traceback

HERE = os.path.dirname(os.path.realpath(__file__))
RESULTS = os.path.join(HERE, "RESULTS.md")
HEADER = """# airmap benchmark results

Produced by `make bench` (`python -m airmap.bench.run`); every number below was measured by that
command on the machine named in its section. Each section compares a method with its classical
baseline on the same inputs in the same run. Real data from `../shared/data` (credits in its
README): CAMS (Copernicus Atmosphere Monitoring Service), CNEMC (China National Environmental
Monitoring Centre), ERA5 (Copernicus Climate Change Service), Sentinel-5P TROPOMI (Copernicus).
Simulated fields come from airmap's own transport-model simulator (`core/simulate`).
"""


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as fh:
            cpu = next(l.split(":", 1)[1].strip() for l in fh if l.startswith("model name"))
    except (OSError, StopIteration):
        pass
    try:
        with open("/proc/meminfo") as fh:
            mem = int(fh.readline().split()[1]) / 1024 ** 2
    except OSError:
        mem = float("nan")
    return f"{cpu}, {os.cpu_count()} cores, {mem:.0f} GiB RAM, {platform.system()} {platform.release()}"


def commit() -> str:
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=HERE, capture_output=True,
                              text=True).stdout.strip() or "unknown"
    except OSError:
        return "unknown"


def section_names():
    package = importlib.import_module(__package__ + ".sections")
    return sorted(m.name for m in pkgutil.iter_modules(package.__path__) if not m.name.startswith("_"))


def run_section(name: str, quick: bool) -> str:
    module = importlib.import_module(f"{__package__}.sections.{name}")
    start = time.time()
    try:
        body = module.section(quick=quick).strip()
        status = ""
    except Exception:  # a broken section is reported, the others still run
        body = "```\n" + traceback.format_exc()[-3000:] + "```"
        status = " — FAILED"
    stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    meta = (f"_Command: `python -m airmap.bench.run --only {name}{' --quick' if quick else ''}` · "
            f"machine: {machine()} · date: {stamp} · commit {commit()} · {time.time() - start:.0f} s{status}_")
    return f"<!-- section:{name} -->\n{body}\n\n{meta}\n<!-- /section:{name} -->"


def merge(existing: str, sections: dict) -> str:
    """Replace or append the named sections in an existing RESULTS.md."""
    text = existing if existing.strip() else HEADER
    for name, block in sections.items():
        pattern = re.compile(rf"<!-- section:{name} -->.*?<!-- /section:{name} -->", re.S)
        text = pattern.sub(lambda _: block, text) if pattern.search(text) else text.rstrip() + "\n\n" + block + "\n"
    return text


def main(argv=None):
    parser = argparse.ArgumentParser(description="airmap benchmarks")
    parser.add_argument("--only", nargs="*", help="sections to run (default: all)")
    parser.add_argument("--quick", action="store_true", help="small sizes: a smoke run")
    parser.add_argument("--out", default=RESULTS)
    args = parser.parse_args(argv)
    names = args.only or section_names()
    unknown = set(names) - set(section_names())
    if unknown:
        parser.error(f"unknown sections {sorted(unknown)}; choose from {section_names()}")
    done = {}
    for name in names:
        print(f"== {name}", flush=True)
        done[name] = run_section(name, args.quick)
        print(done[name], flush=True)
    existing = open(args.out, encoding="utf-8").read() if os.path.exists(args.out) else ""
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    with open(args.out, "w", encoding="utf-8") as fh:
        fh.write(merge(existing, done))
    print(f"wrote {args.out}")
    return 1 if any("— FAILED_" in b for b in done.values()) else 0


if __name__ == "__main__":
    sys.exit(main())
