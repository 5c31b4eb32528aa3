"""Foundation items 11-12: the demo's end-to-end run and the benchmark machinery."""
import os

import pytest
import rasterio

from airmap.bench import run as bench
from airmap.bench.sections import baselines


def test_demo_reconstructs_and_evaluates_a_simulated_scenario(airmap_provider, tmp_path):
    from airmap import demo

    rows = demo.main(["--out", str(tmp_path), "--size", "48", "--days", "1", "--stations", "60"])
    metrics = dict(rows)
    assert set(metrics) == {"idw", "kriging", "pointconv"}
    for m in metrics.values():
        assert m["N"] == 48 * 48 and m["R"] > 0.3  # a real reconstruction, not noise
    for name in ("truth_pm25_day1", "idw", "kriging", "kriging_variance", "pointconv"):
        assert (tmp_path / f"{name}.tif").exists() and (tmp_path / f"{name}.png").exists()
    with rasterio.open(tmp_path / "idw.tif") as a, rasterio.open(tmp_path / "truth_pm25_day1.tif") as b:
        assert a.transform == b.transform and a.crs == b.crs
    assert (tmp_path / "report_kriging.html").stat().st_size > 10_000


def test_bench_merge_replaces_one_section_and_keeps_the_others():
    text = bench.merge("", {"a": "<!-- section:a -->\nold a\n<!-- /section:a -->",
                            "b": "<!-- section:b -->\nb\n<!-- /section:b -->"})
    text = bench.merge(text, {"a": "<!-- section:a -->\nnew a\n<!-- /section:a -->"})
    assert "new a" in text and "old a" not in text and "\nb\n" in text
    assert text.startswith("# airmap benchmark results")


def test_baseline_helpers_score_known_cases():
    import numpy as np

    data = np.arange(36, dtype=np.float32).reshape(1, 6, 6)
    coarse = baselines.block_mean(data, 3)
    assert coarse.shape == (1, 2, 2) and coarse[0, 0, 0] == pytest.approx(np.mean(data[0, :3, :3]))
    assert "baselines" in bench.section_names()
