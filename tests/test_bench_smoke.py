"""Smoke test of `make bench`: bench/run.py in quick mode, as a user runs it, into a temporary
file. Only the two cheapest sections run (quick-mode wall times on 2 shared cores: simulate
~4 s, pointconv ~8 s, baselines ~16 s, deepcams ~22 s, hfsdf ~48 s); simulate and
baselines are the foundation's and need no trained model."""
import os
import re
import subprocess
import sys

from helpers import REPO

SECTIONS = ("simulate", "baselines")
NUMBER = re.compile(r"[-+−]?\d[\d,]*(\.\d+)?([eE][-+]?\d+)?")
META = re.compile(r"^_Command: `python -m airmap\.bench\.run --only (?P<name>\w+) --quick` · machine: "
                  r"(?P<machine>[^·]+) · date: \d{4}-\d{2}-\d{2} \d{2}:\d{2} UTC · commit \w+ · \d+ s_$", re.M)


def tables(markdown):
    """Each Markdown table as a list of rows (lists of cell texts), separator row dropped."""
    found, current = [], []
    for line in markdown.splitlines() + [""]:
        if line.startswith("|"):
            current.append([c.strip() for c in line.strip().strip("|").split("|")])
        elif current:
            found.append(current)
            current = []
    return [t for t in found if len(t) >= 2 and all(re.fullmatch(r":?-{3,}:?", c) for c in t[1])]


def test_quick_bench_writes_marked_sections_with_numeric_tables(tmp_path):
    results = REPO / "bench" / "RESULTS.md"
    shipped = results.read_bytes()
    out = tmp_path / "results.md"
    out.write_text("# earlier\n\n<!-- section:other -->\nkept\n<!-- /section:other -->\n", encoding="utf-8")
    env = dict(os.environ, PYTHONPATH=str(REPO / ".pkg"), OMP_NUM_THREADS="1")
    proc = subprocess.run([sys.executable, "-m", "airmap.bench.run", "--quick", "--only", *SECTIONS,
                           "--out", str(out)], capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    text = out.read_text(encoding="utf-8")
    assert "— FAILED" not in text
    assert "<!-- section:other -->\nkept\n<!-- /section:other -->" in text     # other sections kept
    for name in SECTIONS:
        block = re.search(rf"<!-- section:{name} -->\n(.*?)\n<!-- /section:{name} -->", text, re.S)
        assert block, f"section {name} markers missing"
        body = block.group(1)
        assert body.lstrip().startswith("## ")
        metas = list(META.finditer(body))
        assert [m.group("name") for m in metas] == [name]
        assert "cores" in metas[0].group("machine")
        found = tables(body)
        assert found, f"no Markdown table in {name}"
        for table in found:
            width = len(table[0])
            assert len(table) >= 3 and all(len(row) == width for row in table), table
        numeric = [c for t in found for row in t[2:] for c in row if NUMBER.fullmatch(c)]
        assert len(numeric) >= 3, f"{name}: tables without measured numbers"
    assert results.read_bytes() == shipped      # --out leaves bench/RESULTS.md alone
