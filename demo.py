"""`make demo`: the main job on built-in sample data, end to end through QGIS Processing.

1. The project's simulator makes a scenario (ground truth PM2.5, an urban-clustered station
   network) — airmap's own sample data, nothing downloaded.
2. airmap:idw and airmap:kriging (baselines) and airmap:pointconv (the deep station-fusion
   model, with the scenario's DEM and urban fraction) reconstruct the daily PM2.5 map from the
   stations.
3. airmap:evaluate scores each reconstruction against the truth (table + HTML report).
4. Every GeoTIFF gets a PNG quicklook; the metrics and the output folder are printed.
"""
import argparse
import os
import sys
import time

import numpy as np

from .core.plotting import pyplot
from .core.raster_io import read_raster, write_raster
from .core.simulate import run_scenario
from .provider.standalone import point_layer, start_qgis

METHODS = ("idw", "kriging", "pointconv")
DEFAULT_OUT = os.path.join(os.path.dirname(os.path.realpath(__file__)), "demo_output")


def quicklook(tif, png, title):
    plt = pyplot()

    r = read_raster(tif)
    fig, ax = plt.subplots(figsize=(5, 4.2))
    im = ax.imshow(r.data[0], cmap="viridis")
    fig.colorbar(im, ax=ax, label=r.units or "")
    ax.set_title(title)
    ax.set_axis_off()
    fig.savefig(png, dpi=100, bbox_inches="tight")
    plt.close(fig)
    return png


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=DEFAULT_OUT, help="output folder")
    parser.add_argument("--size", type=int, default=128, help="cells per side of the scenario")
    parser.add_argument("--days", type=int, default=2)
    parser.add_argument("--stations", type=int, default=150)
    parser.add_argument("--seed", type=int, default=42)
    args = parser.parse_args(argv)
    os.makedirs(args.out, exist_ok=True)
    t0 = time.time()

    print(f"1/4 Simulating a {args.size} x {args.size} scenario of 5 km cells, {args.days} days (seed {args.seed})")
    sc = run_scenario(size=args.size, pixel_size=5000.0, days=args.days, seed=args.seed)
    day = 0
    truth_path = write_raster(os.path.join(args.out, "truth_pm25_day1.tif"), sc.pm25_daily[day], sc.grid,
                              [sc.days[day]], units="µg/m³")
    stations = sc.sample_stations(args.stations, day=day, rng=np.random.default_rng(args.seed), noise=0.05)
    dem_path = write_raster(os.path.join(args.out, "dem.tif"), sc.dem, sc.grid, units="m")
    urban_path = write_raster(os.path.join(args.out, "urban_fraction.tif"), sc.urban, sc.grid)

    print("2/4 Reconstructing with airmap:idw, airmap:kriging and airmap:pointconv (QGIS Processing)")
    start_qgis()
    import processing

    layer = point_layer(stations.x, stations.y, {"pm25": stations.values}, sc.grid.crs, "stations")
    xmin, ymin, xmax, ymax = sc.grid.bounds
    common = {"INPUT": layer, "FIELD": "pm25", "EXTENT": f"{xmin},{xmax},{ymin},{ymax}",
              "TARGET_CRS": layer.crs(), "PIXEL_SIZE": sc.grid.res[0]}
    outputs = {"truth": truth_path}
    outputs["idw"] = processing.run("airmap:idw", dict(common, OUTPUT=os.path.join(args.out, "idw.tif")))["OUTPUT"]
    kr = processing.run("airmap:kriging", dict(common, OUTPUT=os.path.join(args.out, "kriging.tif"),
                                               VARIANCE_OUTPUT=os.path.join(args.out, "kriging_variance.tif")))
    outputs["kriging"], outputs["kriging_variance"] = kr["OUTPUT"], kr["VARIANCE_OUTPUT"]
    outputs["pointconv"] = processing.run("airmap:pointconv", dict(
        common, DEM=dem_path, URBAN=urban_path, OUTPUT=os.path.join(args.out, "pointconv.tif")))["OUTPUT"]

    print("3/4 Evaluating against the simulated truth (airmap:evaluate)")
    rows = []
    for method in METHODS:
        res = processing.run("airmap:evaluate", {
            "INPUT": outputs[method], "REFERENCE": truth_path, "OUTPUT": "TEMPORARY_OUTPUT",
            "OUTPUT_HTML": os.path.join(args.out, f"report_{method}.html")})
        rows.append((method, res))

    print("4/4 Writing PNG quicklooks")
    for name, tif in outputs.items():
        quicklook(tif, tif[:-4] + ".png", name)

    print(f"\nStations: {len(stations)} | grid {sc.grid.width} x {sc.grid.height} cells of 5 km | "
          f"{time.time() - t0:.1f} s")
    print(f"{'method':10s} {'R':>6s} {'R2':>6s} {'RMSE':>7s} {'MAE':>7s} {'NME':>6s} {'MB':>7s}")
    for method, m in rows:
        print(f"{method:10s} {m['R']:6.3f} {m['R2']:6.3f} {m['RMSE']:7.2f} {m['MAE']:7.2f} {m['NME']:6.3f} {m['MB']:7.2f}")
    print(f"\nOutputs in {args.out}:")
    for name in sorted(os.listdir(args.out)):
        print("  ", name)
    return rows


if __name__ == "__main__":
    sys.exit(0 if main() else 1)
