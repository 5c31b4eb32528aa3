"""Issue 13's 'done when' check for the streamed raster algorithms, outside `make bench` (it
runs for most of an hour and writes ~5 GB to a scratch folder): a 2 GiB float32 raster (two
16,400² bands) through airmap:bicubic (×2) and airmap:lineartime in headless QGIS Processing,
each in its own process, printing its peak resident memory.

    PYTHONPATH=.pkg .venv/bin/python bench/check_2gb.py make [SCRATCH]
    PYTHONPATH=.pkg .venv/bin/python bench/check_2gb.py bicubic [SCRATCH]
    PYTHONPATH=.pkg .venv/bin/python bench/check_2gb.py lineartime [SCRATCH]

Delete SCRATCH (default /tmp/airmap_2gb) afterwards.
"""
import json
import os
import resource
import sys
import time

import numpy as np
from affine import Affine
from airmap.core.grid import Grid
from airmap.core.raster_io import RasterWriter

work = sys.argv[2] if len(sys.argv) > 2 else "/tmp/airmap_2gb"
os.makedirs(work, exist_ok=True)
src = os.path.join(work, "big.tif")
side = 16400   # 2 bands of 16,400² float32 = 2.0 GiB
grid = Grid(Affine(0.01, 0, 0, 0, -0.01, 60), side, side, "EPSG:4326")
step = sys.argv[1]
if step == "make":
    t = time.time()
    xs = np.arange(side, dtype=np.float32)
    with RasterWriter(src, grid, 2, ["2020-01-01T00:00:00", "2020-01-01T03:00:00"]) as w:
        for b in range(2):
            for r0 in range(0, side, 256):
                ys = np.arange(r0, min(side, r0 + 256), dtype=np.float32)[:, None]
                rows = 40 + 20 * np.sin(xs / 300 + b) * np.cos(ys / 500)
                w.write(b, r0, rows.astype(np.float32))
    print(json.dumps({"made": src, "bytes_of_data": side * side * 4 * 2, "file_bytes": os.path.getsize(src),
                      "seconds": round(time.time() - t, 1)}))
else:
    from airmap.provider.standalone import start_qgis
    start_qgis()
    import processing
    t = time.time()
    params = {"INPUT": src, "OUTPUT": os.path.join(work, f"{step}.tif")}
    if step == "bicubic":
        params["FACTOR"] = 2
    processing.run(f"airmap:{step}", params)
    out = params["OUTPUT"]
    print(json.dumps({"algorithm": step, "input_GiB_per_band": side * side * 4 / 2**30, "bands": 2,
                      "seconds": round(time.time() - t, 1),
                      "peak_rss_MiB": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
                      "output_file_MB": round(os.path.getsize(out) / 1e6, 1)}))
    os.remove(out)
