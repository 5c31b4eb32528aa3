"""core/batch, airmap:batch and python -m airmap.batch: results equal the method run frame by
frame, CF output, resuming after a kill, and clear errors before anything is written."""
import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
from affine import Affine

from airmap.core.baselines import bicubic, idw, linear_in_time
from airmap.core.batch import run_batch
from airmap.core.errors import AirmapInputError
from airmap.core.grid import Grid
from airmap.core.raster_io import write_raster
from airmap.core.stations import Stations

xr = pytest.importorskip("xarray")
GRID = Grid(Affine(0.5, 0.0, 100.0, 0.0, -0.5, 40.0), 20, 16, "EPSG:4490")   # CGCS2000 lon/lat


def _stack(n=8, seed=0):
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:GRID.height, 0:GRID.width]
    frames = np.stack([30 + 20 * np.sin(xx / 3.0 + t / 2.0) * np.cos(yy / 4.0) + rng.random(GRID.shape)
                       for t in range(n)]).astype(np.float32)
    frames[:, 3, 4] = np.nan   # a no-data cell
    return frames


@pytest.fixture
def tif_folder(tmp_path):
    folder = tmp_path / "frames"
    frames = _stack()
    for t, frame in enumerate(frames):
        write_raster(str(folder / f"pm25_2020-01-01T{t:02d}.tif"), frame, GRID, units="µg/m³")
    return str(folder), frames


def _values(path):
    with (xr.open_zarr(path) if path.endswith(".zarr") else xr.open_dataset(path)) as ds:
        name = [v for v in ds.data_vars if v != "crs"][0]
        return ds[name].values, ds


def test_in_process_batch_equals_frame_by_frame_and_is_cf(tif_folder, tmp_path):
    folder, frames = tif_folder
    out = str(tmp_path / "bicubic.nc")
    res = run_batch("bicubic", folder, out, {"FACTOR": 3}, chunk_frames=3)
    assert (res.frames, res.chunks, res.computed, res.skipped) == (8, 3, 3, 0)
    got, _ = _values(out)
    expected = np.stack([bicubic(f[None], 3)[0] for f in frames])
    np.testing.assert_array_equal(np.isnan(got), np.isnan(expected))
    np.testing.assert_allclose(got, expected, rtol=1e-6, equal_nan=True)
    with xr.open_dataset(out, decode_times=False) as ds:
        var = ds["frames"]
        assert var.attrs["grid_mapping"] == "crs" and var.attrs["units"] == "µg/m³"
        assert "4490" in ds["crs"].attrs["crs_wkt"] or "CGCS2000" in ds["crs"].attrs["crs_wkt"]
        assert ds["time"].attrs["units"].startswith("seconds since") and ds.attrs["Conventions"] == "CF-1.8"
        assert ds["y"].attrs["standard_name"] == "latitude"
        assert var.encoding["chunksizes"][0] == 3   # chunked by time
    with xr.open_dataset(out) as ds:
        assert str(ds["time"].values[5])[:19] == "2020-01-01T05:00:00"
    import rasterio
    with rasterio.open(f'NETCDF:"{out}":frames') as src:   # GDAL reads the grid mapping back
        assert src.crs is not None and src.crs.is_geographic
        np.testing.assert_allclose(src.bounds, GRID.bounds, atol=1e-6)


def test_time_method_chunks_equal_pairwise_run(tif_folder, tmp_path):
    folder, frames = tif_folder
    res = run_batch("lineartime", folder, str(tmp_path / "lt.zarr"), {"FACTOR": 3}, chunk_frames=3,
                    start="2020-01-01T01:00", end="2020-01-01T06:00")
    got, _ = _values(str(tmp_path / "lt.zarr"))
    expected = linear_in_time(frames[1:7], 3)
    assert res.frames == 3 * 5 + 1 == got.shape[0]
    np.testing.assert_allclose(got, expected, rtol=1e-6, equal_nan=True)


def test_two_worker_local_cluster_equals_frame_by_frame(tif_folder, tmp_path):
    from airmap.core.superres import load_abpn, super_resolve

    folder, frames = tif_folder
    out = str(tmp_path / "abpn.zarr")
    res = run_batch("abpn", folder, out, {"TILE": 18}, scheduler="local:2", chunk_frames=2,
                    end="2020-01-01T03:00")
    assert res.scheduler == "local:2" and res.computed == 2
    got, _ = _values(out)
    model = load_abpn(threads=1)
    expected = np.stack([super_resolve(f[None], model, tile=18)[0] for f in frames[:4]])
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-4, equal_nan=True)


KILLER = """
import os, signal, sys
sys.path.insert(0, {pkg!r})
from airmap.core.batch import run_batch
def stop(k, done, total):
    if done >= 3:
        os.kill(os.getpid(), signal.SIGKILL)   # killed, not a clean exit
run_batch("lineartime", {src!r}, {out!r}, {{"FACTOR": 3}}, chunk_frames=1, on_chunk=stop)
"""


def test_killed_run_resumes_without_recomputing_finished_chunks(tif_folder, tmp_path):
    folder, _ = tif_folder
    out = str(tmp_path / "resumed.zarr")
    pkg = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), ".pkg")
    proc = subprocess.run([sys.executable, "-c", KILLER.format(pkg=pkg, src=folder, out=out)], timeout=120)
    assert proc.returncode == -signal.SIGKILL
    finished = set(os.listdir(os.path.join(out, ".airmap-done")))
    assert len(finished) == 3
    seen = []
    res = run_batch("lineartime", folder, out, {"FACTOR": 3}, chunk_frames=1,
                    on_chunk=lambda k, done, total: seen.append(k))
    assert (res.skipped, res.computed) == (3, 5)
    assert not finished & {str(k) for k in seen}   # no finished chunk computed again
    clean = str(tmp_path / "clean.zarr")
    run_batch("lineartime", folder, clean, {"FACTOR": 3}, chunk_frames=1)
    np.testing.assert_array_equal(_values(out)[0], _values(clean)[0])
    again = run_batch("lineartime", folder, out, {"FACTOR": 3}, chunk_frames=1)
    assert (again.computed, again.skipped) == (0, 8)   # a finished store is left as it is


def test_no_time_axis_is_refused_before_writing(tmp_path):
    path = str(tmp_path / "no_time.nc")
    xr.Dataset({"pm25": (("level", "lat", "lon"), np.ones((2, 4, 5), np.float32))},
               coords={"lat": np.arange(4.0), "lon": np.arange(5.0)}).to_netcdf(path)
    out = str(tmp_path / "o.nc")
    with pytest.raises(AirmapInputError, match="no time axis"):
        run_batch("bicubic", path, out)
    assert not os.path.exists(out) and not os.path.exists(out + ".partial.zarr")


def test_mixed_grids_are_refused_before_writing(tif_folder, tmp_path):
    folder, frames = tif_folder
    other = Grid(Affine(0.25, 0.0, 100.0, 0.0, -0.25, 40.0), 20, 16, "EPSG:4490")
    write_raster(os.path.join(folder, "pm25_2020-01-01T09.tif"), frames[0], other)
    out = str(tmp_path / "o.zarr")
    with pytest.raises(AirmapInputError, match="another grid"):
        run_batch("bicubic", folder, out)
    assert not os.path.exists(out)


def test_unreachable_scheduler_fails_within_seconds_and_writes_nothing(tif_folder, tmp_path):
    folder, _ = tif_folder
    out = str(tmp_path / "o.nc")
    began = time.perf_counter()
    with pytest.raises(AirmapInputError, match="No Dask scheduler answered"):
        run_batch("bicubic", folder, out, scheduler="tcp://127.0.0.1:9")
    assert time.perf_counter() - began < 15
    assert not os.listdir(tmp_path / "frames") == [] and not os.path.exists(out)
    assert not os.path.exists(out + ".partial.zarr")


def test_station_table_equals_idw_per_time(tmp_path):
    rng = np.random.default_rng(3)
    rows, per_time = [], {}
    for t in range(3):
        x, y = rng.uniform(100, 110, 40), rng.uniform(32, 40, 40)
        v = 30 + 10 * np.sin(x / 2) + t
        per_time[t] = Stations(x, y, v)
        rows += [f"2021-03-0{t + 1},{a:.6f},{b:.6f},{c:.6f}" for a, b, c in zip(x, y, v)]
    table = tmp_path / "long.csv"
    table.write_text("time,lon,lat,pm25\n" + "\n".join(rows) + "\n")
    params = {"FIELD": "pm25", "EXTENT": "100,110,32,40", "PIXEL_SIZE": 0.5, "CRS": "EPSG:4490", "K_NEAREST": 8}
    res = run_batch("idw", str(table), str(tmp_path / "idw.nc"), params)
    got, _ = _values(str(tmp_path / "idw.nc"))
    grid = Grid.from_extent(100, 32, 110, 40, 0.5, "EPSG:4490")
    assert res.frames == 3 and got.shape == (3,) + grid.shape
    for t in range(3):
        np.testing.assert_allclose(got[t], idw(per_time[t], grid, k=8), rtol=1e-6)


def test_unknown_method_parameter_is_named(tif_folder, tmp_path):
    with pytest.raises(AirmapInputError, match="TILES"):
        run_batch("abpn", tif_folder[0], str(tmp_path / "o.nc"), {"TILES": 8})


def test_command_line(tif_folder, tmp_path):
    out = str(tmp_path / "cli.nc")
    env = dict(os.environ, PYTHONPATH=os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), ".pkg"))
    proc = subprocess.run([sys.executable, "-m", "airmap.batch", "bicubic", tif_folder[0], out,
                           "--parameters", '{"FACTOR": 2}', "--end", "2020-01-01T01:00"],
                          capture_output=True, text=True, env=env, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout.strip().splitlines()[-1])["frames"] == 2
    assert _values(out)[0].shape == (2, 32, 40)
    bad = subprocess.run([sys.executable, "-m", "airmap.batch", "bicubic", str(tmp_path / "missing"), out + "x.nc"],
                         capture_output=True, text=True, env=env, timeout=120)
    assert bad.returncode == 1 and "does not exist" in bad.stderr


def test_processing_algorithm(airmap_provider, tif_folder, tmp_path):
    import processing
    from qgis.core import QgsProcessingException

    from airmap.algorithms.batch import METHOD_KEYS
    from airmap.core.batch import METHODS

    assert list(METHOD_KEYS) == list(METHODS)
    out = str(tmp_path / "alg.nc")
    res = processing.run("airmap:batch", {"METHOD": METHOD_KEYS.index("bicubic"), "METHOD_PARAMETERS": '{"FACTOR": 2}',
                                          "INPUT": tif_folder[0], "START": "2020-01-01T02:00", "END": "",
                                          "SCHEDULER": "", "OUTPUT": out})
    assert res["FRAMES"] == 6 and _values(res["OUTPUT"])[0].shape == (6, 32, 40)
    with pytest.raises(QgsProcessingException, match="JSON"):
        processing.run("airmap:batch", {"METHOD": 0, "METHOD_PARAMETERS": "{FACTOR: 2", "INPUT": tif_folder[0],
                                        "OUTPUT": str(tmp_path / "bad.nc")})


def test_hfsdf_batch_equals_frame_by_frame(tif_folder, tmp_path):
    from airmap.core.hfsdf import Observations, load_decoder, reconstruct

    folder, frames = tif_folder
    params = {"PIXEL_SIZE": 1.0, "ITERATIONS": 3, "MAX_POINTS": 128, "THREADS": 1}
    res = run_batch("hfsdf", folder, str(tmp_path / "h.zarr"), params, end="2020-01-01T01:00", chunk_frames=1)
    got, _ = _values(str(tmp_path / "h.zarr"))
    out_grid = Grid.from_extent(*GRID.bounds, 1.0, GRID.crs)
    decoder = load_decoder(threads=1)
    expected = [reconstruct(Observations.from_raster(f, GRID), out_grid, decoder=decoder, iterations=3,
                            max_points=128).values for f in frames[:2]]
    assert res.frames == 2 and got.shape == (2,) + out_grid.shape
    np.testing.assert_allclose(got, np.stack(expected), rtol=1e-5, atol=1e-4, equal_nan=True)


def test_a_run_killed_before_its_first_chunk_is_not_taken_as_finished(tif_folder, tmp_path):
    folder, frames = tif_folder
    out = str(tmp_path / "early.zarr")
    pkg = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), ".pkg")
    code = KILLER.replace("if done >= 3", "if done >= 99").replace(
        "run_batch(", "import airmap.core.batch.engine as e\ne._execute = lambda *a, **k: os.kill(os.getpid(), "
                      "signal.SIGKILL)\nrun_batch(")
    subprocess.run([sys.executable, "-c", code.format(pkg=pkg, src=folder, out=out)], timeout=120)
    assert os.path.isdir(out)                         # the template was written, no chunk
    res = run_batch("lineartime", folder, out, {"FACTOR": 3}, chunk_frames=1)
    assert (res.computed, res.skipped) == (8, 0)
    np.testing.assert_allclose(_values(out)[0], linear_in_time(frames, 3), rtol=1e-6)


def test_an_existing_cluster_by_its_address(tif_folder, tmp_path):
    from distributed import LocalCluster

    folder, frames = tif_folder
    with LocalCluster(n_workers=1, threads_per_worker=1, dashboard_address=None, silence_logs=40) as cluster:
        res = run_batch("bicubic", folder, str(tmp_path / "addr.nc"), {"FACTOR": 2}, end="2020-01-01T02:00",
                        scheduler=cluster.scheduler_address, chunk_frames=2)
    assert res.scheduler.startswith("tcp://") and res.computed == 2
    np.testing.assert_allclose(_values(str(tmp_path / "addr.nc"))[0],
                               np.stack([bicubic(f[None], 2)[0] for f in frames[:3]]), rtol=1e-6, equal_nan=True)


def test_spin_over_a_station_table_equals_one_run_over_the_whole_series(tmp_path):
    """Chunks of 10 hours cut SPIN's 48-hour windows: each chunk reads the frames of the
    archive's own windows around it, so the store equals SPIN over the whole series."""
    from airmap.core.timeseries import methods
    from airmap.core.timeseries.series import series_from_records

    rng = np.random.default_rng(4)
    lon, lat = rng.uniform(116.1, 116.9, 10), rng.uniform(39.7, 40.2, 10)
    times = np.datetime64("2014-11-01T00:00") + np.arange(80) * np.timedelta64(1, "h")
    rows, records = [], ([], [], [], [])
    for t, stamp in enumerate(times):
        for s in range(10):
            if rng.random() < 0.2:          # gaps: a station-hour without a value
                continue
            v = 60 + 30 * np.sin(t / 7 + s) + 10 * lon[s] - 1160
            rows.append(f"{stamp}:00,{lon[s]:.6f},{lat[s]:.6f},{v:.4f}")
            for seq, item in zip(records, (lon[s], lat[s], f"{stamp}:00", v)):
                seq.append(item)
    table = tmp_path / "hourly.csv"
    table.write_text("time,lon,lat,pm25\n" + "\n".join(rows) + "\n")
    params = {"FIELD": "pm25", "EXTENT": "116,117,39.6,40.3", "PIXEL_SIZE": 0.1}
    res = run_batch("spin", str(table), str(tmp_path / "spin.nc"), params, chunk_frames=10)
    got, _ = _values(str(tmp_path / "spin.nc"))
    grid = Grid.from_extent(116, 39.6, 117, 40.3, 0.1, "EPSG:4326")
    series = series_from_records(*[np.array(a) if i != 2 else a for i, a in enumerate(records)])
    xs, ys = grid.cell_centres()
    whole = methods.predict("spin", series, None, xs.ravel(), ys.ravel())      # (cells, hours)
    assert res.chunks == 8 and got.shape == (80,) + grid.shape
    np.testing.assert_allclose(got, whole.T.reshape(got.shape), rtol=1e-4, atol=1e-3)
    assert np.isfinite(got).all() and got.std() > 1


def test_spin_refuses_an_irregular_time_axis(tmp_path):
    table = tmp_path / "gappy.csv"
    table.write_text("time,lon,lat,pm25\n2014-11-01T00:00:00,116.3,39.9,50\n2014-11-01T00:00:00,116.5,40.0,60\n"
                     "2014-11-01T03:00:00,116.3,39.9,55\n2014-11-01T04:00:00,116.5,40.0,65\n")
    with pytest.raises(AirmapInputError, match="regular time axis"):
        run_batch("spin", str(table), str(tmp_path / "o.nc"), {"FIELD": "pm25", "PIXEL_SIZE": 0.1})
    assert not os.path.exists(tmp_path / "o.nc")
