"""With torch unimportable, coded HF-SDF still runs on ONNX alone and single-map mode explains
how to install torch (run in a subprocess whose import system refuses torch)."""
import textwrap

from helpers import run_plugin_script

SCRIPT = textwrap.dedent("""
    import sys
    sys.modules["torch"] = None          # 'import torch' now raises ImportError
    import numpy as np
    from airmap.core.errors import AirmapInputError
    from airmap.core.grid import Grid
    from airmap.core.hfsdf import Observations, reconstruct

    grid = Grid.from_extent(0, 0, 8, 8, 1.0)
    gx, gy = grid.cell_centres()
    obs = Observations.from_raster(10 + gx + 0.5 * gy, grid)
    fine = Grid.from_extent(0, 0, 8, 8, 0.25)
    res = reconstruct(obs, fine, iterations=2, max_points=64, threads=1, device="cpu", confidence=True)
    assert res.values.shape == (32, 32) and np.isfinite(res.values).all()
    assert res.confidence.shape == (32, 32)
    assert "torch" not in sys.modules or sys.modules["torch"] is None
    try:
        reconstruct(obs, fine, mode="single-map")
    except AirmapInputError as exc:
        print("HINT:", exc)
    else:
        raise SystemExit("single-map mode ran without torch")
    print("CODED-OK")
""")


def test_coded_mode_without_torch_and_single_map_hint():
    proc = run_plugin_script(SCRIPT, OMP_NUM_THREADS="1")
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "CODED-OK" in proc.stdout
    hint = next(line for line in proc.stdout.splitlines() if line.startswith("HINT:"))
    assert "pip install torch" in hint and "MODE 'coded'" in hint
