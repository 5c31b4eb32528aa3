"""Station and any-resolution methods hand their maps on in row strips (written as they come)
with the values of the whole-map path: kriging, HF-SDF's read-outs, PointConv."""
import sys

import numpy as np
import pytest

from airmap.core.grid import Grid
from airmap.core.stations import Stations


def _stations(n=40, seed=0):
    rng = np.random.default_rng(seed)
    x, y = rng.uniform(100, 110, n), rng.uniform(30, 38, n)
    return Stations(x, y, 30 + 5 * np.sin(x) + 3 * np.cos(y) + rng.normal(0, 0.5, n))


@pytest.mark.parametrize("neighbours", [8, None])
def test_kriging_strips_equal_kriging_every_cell_at_once(neighbours):
    from airmap.core.baselines.kriging import kriging_at, kriging_rows

    st, grid = _stations(), Grid.from_extent(100, 30, 110, 38, 0.25, "EPSG:4326")
    strips = list(kriging_rows(st, grid, neighbours=neighbours, rows=3))
    assert [r0 for r0, _, _ in strips] == list(range(0, grid.height, 3))
    est = np.concatenate([e for _, e, _ in strips])
    var = np.concatenate([v for _, _, v in strips])
    xs, ys = grid.cell_centres()
    whole_est, whole_var = kriging_at(st, xs, ys, geographic=True, neighbours=neighbours)
    np.testing.assert_allclose(est, whole_est.reshape(grid.shape), rtol=1e-6)
    np.testing.assert_allclose(var, whole_var.reshape(grid.shape), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("surface", ["root", "marching-cubes"])
def test_hfsdf_strips_equal_the_whole_map(surface, monkeypatch):
    from airmap.core.hfsdf import Observations, reconstruct
    from airmap.core.hfsdf.reconstruct import load_decoder

    module = sys.modules["airmap.core.hfsdf.reconstruct"]   # the package exports a function of that name

    obs = Observations.from_stations(_stations(60, 1))
    grid = Grid.from_extent(100, 30, 110, 38, 0.3, "EPSG:4326")
    decoder = load_decoder(threads=1)
    kw = dict(decoder=decoder, iterations=3, confidence=True, surface=surface, mc_levels=32)
    whole = reconstruct(obs, grid, **kw)
    monkeypatch.setattr(module, "READOUT_BLOCK", grid.width * 4)    # strips of 4 rows
    values, conf, starts = np.full(grid.shape, np.nan, np.float32), np.full(grid.shape, np.nan, np.float32), []

    def sink(r0, rows, residual):
        values[r0:r0 + len(rows)], conf[r0:r0 + len(rows)] = rows, residual
        starts.append(r0)
    streamed = reconstruct(obs, grid, sink=sink, **kw)
    assert streamed.values is None and starts == list(range(0, grid.height, 4))
    np.testing.assert_array_equal(values, whole.values)
    np.testing.assert_array_equal(conf, whole.confidence)


@pytest.mark.parametrize("cell, resolution, with_covariates", [(0.05, "output", False), (0.02, "auto", True),
                                                               (0.05, "output", True)])
def test_pointconv_strips_equal_the_whole_field(cell, resolution, with_covariates):
    from airmap.core import pointconv as pc
    from airmap.core.pointconv_stream import stream_pm25
    from airmap.core.raster_io import Raster

    st = _stations(300, 2)
    grid = Grid.from_extent(100, 30, 110, 38, cell, "EPSG:4326")
    covariates = None
    if with_covariates:   # rasters on another grid, with a gap: resampled window by window
        src = Grid.from_extent(99, 29, 111, 39, 0.037, "EPSG:4326")
        yy, xx = np.mgrid[0:src.height, 0:src.width]
        dem = (500 + 300 * np.sin(xx / 20) * np.cos(yy / 15)).astype(np.float32)
        dem[5:40, 10:30] = np.nan
        covariates = {"dem": Raster(dem[None], src, ["dem"]),
                      "urban": Raster((np.cos(xx / 9) ** 2).astype(np.float32)[None], src, ["urban"])}
    kw = dict(threads=1, resolution=resolution, tile=96, overlap=16, covariates=covariates)
    whole = pc.predict_pm25(st, grid, **kw)
    out, strips = np.full(grid.shape, np.nan, np.float32), []

    def sink(r0, rows):
        out[r0:r0 + len(rows)] = rows
        strips.append((r0, len(rows)))
    variant, factor, _ = stream_pm25(st, grid, sink, **kw)
    assert (variant, factor) == (whole.variant, whole.factor) and (factor > 1) == (resolution == "auto")
    assert len(strips) > 1 and [r0 for r0, _ in strips] == list(np.cumsum([0] + [n for _, n in strips])[:-1])
    assert max(n for _, n in strips) <= 96 * factor + 2          # at most about one tile row at a time
    np.testing.assert_allclose(out, whole.field, rtol=1e-5, atol=1e-4)


def test_pointconv_streamed_covariate_without_data_is_refused():
    from airmap.core.pointconv_stream import stream_pm25
    from airmap.core.raster_io import Raster

    grid = Grid.from_extent(100, 30, 110, 38, 0.1, "EPSG:4326")
    far = Raster(np.ones((1, 10, 10), np.float32), Grid.from_extent(0, 0, 1, 1, 0.1, "EPSG:4326"), ["dem"])
    with pytest.raises(Exception, match="DEM raster has no data inside the extent"):
        stream_pm25(_stations(), grid, lambda r0, rows: None, threads=1, covariates={"dem": far})


def test_hfsdf_height_prior_of_a_large_band_is_built_from_a_bounded_sample():
    from airmap.core.hfsdf.prior import HeightPrior

    yy, xx = np.mgrid[0:300, 0:300] / 299.0 * 2 - 1           # a 300² band's cell centres in the cube
    points = np.column_stack([xx.ravel(), yy.ravel(), 0.3 * xx.ravel() - 0.2 * yy.ravel()])
    prior = HeightPrior(points, max_points=5000)
    assert prior._nearest.points.shape[0] == 5000             # the triangulation's size is bounded
    xy = np.random.default_rng(0).uniform(-0.9, 0.9, (200, 2))
    np.testing.assert_allclose(prior(xy), 0.3 * xy[:, 0] - 0.2 * xy[:, 1], atol=1e-9)   # a plane stays exact
