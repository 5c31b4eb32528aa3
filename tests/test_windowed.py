"""Bounded memory: windowed reads equal whole reads, tiled/streamed outputs equal untiled
ones, and a raster whose output is larger than a memory cap still processes."""
import os

import numpy as np
import pytest
import rasterio
from affine import Affine

from airmap.core.baselines.bicubic import bicubic, bicubic_windows
from airmap.core.grid import Grid
from airmap.core.onnx_runtime import run_tiled
from airmap.core.raster_io import RasterReader, RasterWriter, read_raster, write_raster
from helpers import run_under_memory_cap

GRID = Grid(Affine(1000.0, 0.0, 400000.0, 0.0, -1000.0, 4500000.0), 300, 270, "EPSG:32650")


@pytest.fixture
def gappy_tif(tmp_path):
    rng = np.random.default_rng(1)
    data = (rng.random((2,) + GRID.shape) * 80).astype(np.float32)
    data[0, 40:60, 100:180] = np.nan
    data[1, :, 290:] = np.nan
    path = str(tmp_path / "gappy.tif")
    write_raster(path, data, GRID, band_names=["2020-01-01T00:00:00", "2020-01-01T01:00:00"], units="ppb")
    return path, data


def test_windowed_read_equals_whole_read(gappy_tif, shared_data):
    path, data = gappy_tif
    whole = read_raster(path)
    np.testing.assert_array_equal(whole.data, data)
    with RasterReader(path) as reader:
        assert reader.grid == whole.grid and reader.grid.crs == "EPSG:32650" and reader.units == "ppb"
        for window in [(0, 0, 17, 300), (33, 95, 40, 100), (250, 280, 20, 20)] + list(reader.row_windows(64)):
            r0, c0, h, w = window
            for band in (1, 2):
                np.testing.assert_array_equal(reader.read(band, window), data[band - 1, r0:r0 + h, c0:c0 + w])
        view = reader.band(2)
        np.testing.assert_array_equal(view[:, 10:20, 285:300][0], data[1, 10:20, 285:300])
    cams = str(shared_data / "cams_pm25_0p75_20191231.nc")
    whole = read_raster(cams, "pm25")
    with RasterReader(cams, "pm25") as reader:
        np.testing.assert_array_equal(reader.read(3, (100, 200, 31, 57)), whole.data[2, 100:131, 200:257])
        assert reader.band_names == whole.band_names and reader.grid == whole.grid


def test_block_aligned_writer_equals_whole_write(gappy_tif, tmp_path):
    _, data = gappy_tif
    whole = write_raster(str(tmp_path / "whole.tif"), data, GRID)
    with RasterWriter(str(tmp_path / "strips.tif"), GRID, 2) as writer:
        for band in (0, 1):
            r0 = 0
            for rows in (7, 100, 1, 250):   # strips that do not match the 256-row blocks
                writer.write(band, r0, data[band, r0:r0 + rows])
                r0 += rows
            assert r0 >= GRID.height
    with rasterio.open(whole) as a, rasterio.open(writer.target) as b:
        np.testing.assert_array_equal(a.read(), b.read())
        assert b.block_shapes[0] == (256, 256)
    assert not [f for f in os.listdir(tmp_path) if f.startswith(".airmap-")]


def test_aborted_writer_leaves_nothing(tmp_path):
    with pytest.raises(RuntimeError):
        with RasterWriter(str(tmp_path / "x.tif"), GRID, 1) as writer:
            writer.write(0, 0, np.ones((10, GRID.width), np.float32))
            raise RuntimeError("stop")
    assert os.listdir(tmp_path) == []


def _upsample(piece):   # a local operator, so tiling must not change it
    return np.kron(piece * 2.0 + 1.0, np.ones((3, 3)))


def test_tiled_output_equals_untiled_and_sink_equals_array():
    rng = np.random.default_rng(0)
    array = rng.random((1, 130, 170)).astype(np.float32)
    untiled = run_tiled(_upsample, array, tile=400, overlap=0, scale=3)
    tiled = run_tiled(_upsample, array, tile=48, overlap=8, scale=3)
    np.testing.assert_allclose(tiled, untiled, rtol=1e-6)
    strips = []
    assert run_tiled(_upsample, array, tile=48, overlap=8, scale=3,
                     sink=lambda r0, rows: strips.append((r0, rows))) is None
    assert [r for r, _ in strips] == sorted(r for r, _ in strips) and strips[0][0] == 0
    assert max(rows.shape[1] for _, rows in strips) <= 48 * 3      # never more than one tile row
    np.testing.assert_array_equal(np.concatenate([rows for _, rows in strips], axis=1), tiled)


def test_streamed_abpn_equals_in_memory():
    from airmap.core.superres import load_abpn, super_resolve

    rng = np.random.default_rng(2)
    data = (20 + 10 * rng.random((2, 40, 52))).astype(np.float32)
    data[1, 5:9, 7:30] = np.nan
    model = load_abpn(threads=1)
    whole = super_resolve(data, model, tile=24)
    out = np.full_like(whole, -1.0)
    super_resolve(data, model, tile=24, sink=lambda b, r0, rows: out[b].__setitem__(slice(r0, r0 + len(rows)), rows))
    np.testing.assert_array_equal(out, whole)


def test_windowed_bicubic_equals_whole_band():
    rng = np.random.default_rng(3)
    band = rng.random((150, 230)) * 10
    band[30:45, 60:90] = np.nan
    out = np.empty((450, 690), np.float32)
    bicubic_windows(lambda w: band[w[0]:w[0] + w[2], w[1]:w[1] + w[3]], 150, 230, 3,
                    lambda r0, rows: out.__setitem__(slice(r0, r0 + len(rows)), rows), True, block=40)
    np.testing.assert_array_equal(out, bicubic(band[None], 3)[0])


CAPPED = """
import numpy as np
from airmap.core.baselines.bicubic import bicubic, bicubic_windows
from airmap.core.raster_io import RasterReader, RasterWriter
# CAP
reader = RasterReader({src!r})
if {whole}:
    out = bicubic(reader.read_bands(), 3)          # the whole raster in memory: must not fit
else:
    grid = reader.grid.refined(3)
    with RasterWriter({dst!r}, grid, 1) as writer:
        bicubic_windows(lambda w: reader.read(1, w), reader.grid.height, reader.grid.width, 3,
                        lambda r0, rows: writer.write(0, r0, rows), True)
print("done")
"""


def test_raster_larger_than_a_memory_cap_still_processes(tmp_path):
    """Output 6000 x 6000 float32 (144 MB) under a cap of 200 MB above the start-up footprint
    (the windowed path needs one tile row of strips plus GDAL's bounded block cache)."""
    grid = Grid(Affine(0.01, 0.0, 100.0, 0.0, -0.01, 40.0), 2000, 2000, "EPSG:4326")
    yy, xx = np.mgrid[0:2000, 0:2000].astype(np.float32)
    src = write_raster(str(tmp_path / "big.tif"), 50 + 20 * np.sin(xx / 50) * np.cos(yy / 70), grid)
    del yy, xx
    dst = str(tmp_path / "big_x3.tif")
    run_under_memory_cap(CAPPED, 200, src=src, dst=dst)
    with rasterio.open(dst) as ds, rasterio.open(src) as original:
        assert (ds.width, ds.height) == (6000, 6000)
        probe = ds.read(1, window=rasterio.windows.Window(2999, 2999, 3, 3))
        expected = original.read(1, window=rasterio.windows.Window(999, 999, 3, 3))
        assert abs(float(probe.mean()) - float(expected[1, 1])) < 0.5


def test_streamed_lineartime_and_bicubic_algorithms_equal_the_in_memory_methods(airmap_provider, tmp_path):
    import processing

    from airmap.core.baselines import linear_in_time

    grid = Grid(Affine(0.1, 0.0, 0.0, 0.0, -0.1, 40.0), 40, 300, "EPSG:4490")   # > one 256-row window
    rng = np.random.default_rng(5)
    data = (rng.random((3, 300, 40)) * 30).astype(np.float32)
    data[1, 250:270, 5:9] = np.nan
    src = write_raster(str(tmp_path / "stack.tif"), data, grid,
                       band_names=["2020-01-01T00:00:00", "2020-01-01T03:00:00", "2020-01-01T06:00:00"])
    lt = processing.run("airmap:lineartime", {"INPUT": src, "FACTOR": 3, "OUTPUT": str(tmp_path / "lt.tif")})
    out = read_raster(lt["OUTPUT"])
    np.testing.assert_array_equal(out.data, linear_in_time(data, 3))
    assert out.band_names[1] == "2020-01-01T01:00:00"
    bc = processing.run("airmap:bicubic", {"INPUT": src, "FACTOR": 2, "OUTPUT": str(tmp_path / "bc.tif")})
    np.testing.assert_array_equal(read_raster(bc["OUTPUT"]).data, bicubic(data, 2))
