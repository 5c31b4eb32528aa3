"""Issue 13's 'done when' check for the streamed raster algorithms, outside `make bench` (it
runs for an hour or more and writes several GB to a scratch folder): a 2 GiB float32 raster
through each raster algorithm in headless QGIS Processing, each in its own process, printing
its peak resident memory.

Two 2 GiB rasters:

* ``make``: two 16,400² bands (every cell valid). bicubic (×2) and lineartime run on it in
  minutes; the networks cost ~0.1–0.5 ms per input cell on one core here (ABPN), i.e. tens of
  CPU-hours for 537 M cells, so they are not run on it.
* ``make-bands``: 512 bands of 1,024² of which the first two hold data and the rest are
  no-data. Every band is read (the normaliser's passes, the no-data checks) and every output
  band is written, but the networks run on the two data bands only (no-data bands and pairs
  with a no-data frame stay no-data), so abpn, xvfi, deepcams and hfsdf (BAND 1, onto the
  input grid) finish in minutes with the whole 2 GiB raster as their input.

    PYTHONPATH=.pkg .venv/bin/python bench/check_2gb.py make [SCRATCH]
    PYTHONPATH=.pkg .venv/bin/python bench/check_2gb.py make-bands [SCRATCH]
    PYTHONPATH=.pkg .venv/bin/python bench/check_2gb.py bicubic|lineartime [SCRATCH]
    PYTHONPATH=.pkg .venv/bin/python bench/check_2gb.py bands:abpn|bands:xvfi|bands:deepcams|bands:hfsdf [SCRATCH]

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
LAYOUTS = {   # file: (side, bands, bands with data)
    "big.tif": (16400, 2, 2),        # 2 x 16,400² float32 = 2.0 GiB
    "bands.tif": (1024, 512, 2),     # 512 x 1,024² float32 = 2.0 GiB
}


def make(name):
    side, count, with_data = LAYOUTS[name]
    path = os.path.join(work, name)
    grid = Grid(Affine(0.01, 0, 0, 0, -0.01, 60), side, side, "EPSG:4326")
    t = time.time()
    xs = np.arange(side, dtype=np.float32)
    stamps = [str(np.datetime64("2020-01-01T00:00") + np.timedelta64(3 * b, "h")) + ":00" for b in range(count)]
    with RasterWriter(path, grid, count, stamps) as w:
        for b in range(count):
            for r0 in range(0, side, 256):
                ys = np.arange(r0, min(side, r0 + 256), dtype=np.float32)[:, None]
                if b < with_data:
                    rows = 40 + 20 * np.sin(xs / 300 + b) * np.cos(ys / 500)
                else:
                    rows = np.full((ys.size, side), np.nan)
                w.write(b, r0, rows.astype(np.float32))
    print(json.dumps({"made": path, "bytes_of_data": side * side * 4 * count, "bands": count,
                      "bands_with_data": with_data, "file_bytes": os.path.getsize(path),
                      "seconds": round(time.time() - t, 1)}))


def run(step):
    name = "bands.tif" if step.startswith("bands:") else "big.tif"
    algorithm = step.split(":")[-1]
    side, count, with_data = LAYOUTS[name]
    from airmap.provider.standalone import start_qgis

    start_qgis()
    import processing

    t = time.time()
    out = os.path.join(work, f"{algorithm}.tif")
    params = {"INPUT": os.path.join(work, name), "OUTPUT": out, "THREADS": 1}
    if algorithm == "bicubic":
        params["FACTOR"] = 2
    if algorithm in ("bicubic", "lineartime"):
        params.pop("THREADS")
    if algorithm == "hfsdf":
        params.update(BAND=1, PIXEL_SIZE=0.01)   # onto the input grid (its default is 256 cells wide)
    processing.run(f"airmap:{algorithm}", params)
    print(json.dumps({"algorithm": algorithm, "input": name, "input_GiB": side * side * 4 * count / 2 ** 30,
                      "bands": count, "bands_with_data": with_data, "seconds": round(time.time() - t, 1),
                      "peak_rss_MiB": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
                      "output_file_MB": round(os.path.getsize(out) / 1e6, 1)}))
    os.remove(out)


if __name__ == "__main__":
    step = sys.argv[1]
    if step == "make":
        make("big.tif")
    elif step == "make-bands":
        make("bands.tif")
    else:
        run(step)
