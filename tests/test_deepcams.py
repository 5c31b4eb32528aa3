"""Issue 4: the DeepCAMS chain, the shared normalisation, training samples, and the three
Processing algorithms (airmap:abpn, airmap:xvfi, airmap:deepcams) inside QGIS."""
import os

import numpy as np
import pytest
import rasterio
from affine import Affine

from airmap.core.deepcams import block_mean, deepcams, output_band_names, sr_pairs, vfi_triplets
from airmap.core.errors import AirmapInputError
from airmap.core.frame_interp import load_xvfi
from airmap.core.grid import Grid
from airmap.core.normalise import fit_normaliser
from airmap.core.raster_io import read_raster, write_raster
from airmap.core.superres import load_abpn
from helpers import chain_model, model_output

TIMES = ["2019-12-31T15:00:00", "2019-12-31T18:00:00", "2019-12-31T21:00:00"]


# --- normalisation ---------------------------------------------------------------------------

def test_normalisation_round_trip_keeps_nan_and_sign():
    rng = np.random.default_rng(0)
    pm = rng.lognormal(2, 1.5, (3, 20, 20)).astype(np.float32)
    pm[0, 0, 0] = np.nan
    n = fit_normaliser(pm)
    assert n.log
    z = n.forward(pm)
    assert np.isnan(z[0, 0, 0]) and abs(np.nanmean(z)) < 1e-3 and abs(np.nanstd(z) - 1) < 1e-3
    np.testing.assert_allclose(n.inverse(z), pm, rtol=1e-4)
    assert n.inverse(np.array([-50.0])).min() >= 0          # never a negative concentration

    anomaly = rng.standard_normal((2, 10, 10)).astype(np.float32) * 5 - 1
    a = fit_normaliser(anomaly)
    assert not a.log
    np.testing.assert_allclose(a.inverse(a.forward(anomaly)), anomaly, rtol=1e-5, atol=1e-5)


def test_normalisation_is_scale_free_and_handles_constants():
    rng = np.random.default_rng(1)
    pm = rng.lognormal(2, 1, (10, 10))
    z1 = fit_normaliser(pm).forward(pm)
    z2 = fit_normaliser(pm * 1000).forward(pm * 1000)      # µg/m³ vs ng/m³: the same network input
    np.testing.assert_allclose(z1, z2, atol=1e-4)
    const = np.full((4, 4), 280.0)
    n = fit_normaliser(const)
    assert np.all(n.forward(const) == 0)
    np.testing.assert_allclose(n.inverse(np.zeros(3) + 0.5), 280.0, rtol=1e-4)
    with pytest.raises(AirmapInputError):
        fit_normaliser(np.full((3, 3), np.nan))


# --- training / benchmark samples --------------------------------------------------------------

def test_block_mean_and_pairs():
    fine = np.arange(2 * 7 * 8, dtype=np.float32).reshape(2, 7, 8)
    coarse, cropped = sr_pairs(fine)
    assert coarse.shape == (2, 2, 2) and cropped.shape == (2, 6, 6)
    assert coarse[0, 0, 0] == pytest.approx(fine[0, :3, :3].mean())
    fine[0, 1, 1] = np.nan
    assert np.isnan(block_mean(fine)[0, 0, 0]) and np.isfinite(block_mean(fine)[0, 0, 1])
    assert vfi_triplets(np.zeros((7, 1, 1))) == [(0, 3, [1, 2]), (1, 4, [2, 3]), (2, 5, [3, 4]), (3, 6, [4, 5])]


def test_output_band_names_are_the_inserted_hours():
    assert output_band_names(TIMES) == ["2019-12-31T15:00:00", "2019-12-31T16:00:00", "2019-12-31T17:00:00",
                                        "2019-12-31T18:00:00", "2019-12-31T19:00:00", "2019-12-31T20:00:00",
                                        "2019-12-31T21:00:00"]


# --- the chain ------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def models():
    return load_xvfi(threads=1), load_abpn(threads=1)


def _cams_crop(shared_data, rows=slice(60, 92), cols=slice(380, 412)):
    r = read_raster(str(shared_data / "cams_pm25_0p75_20191231.nc"), variable="pm25")
    data = r.data[:, rows, cols]
    grid = r.grid.window(rows.start, cols.start, data.shape[1], data.shape[2])
    return data, grid, r.band_names


def test_chain_shapes_nodata_and_values_on_real_cams(models, shared_data):
    data, _, _ = _cams_crop(shared_data)
    data = data.copy()
    data[1, 3:6, 3:6] = np.nan
    out = deepcams(data, *models)
    assert out.shape == (10, 96, 96)
    assert np.nanmin(out) >= 0
    # the gap in frame 1 (output frame 3) and in the frames made from it stays no-data ×3 in space
    for k in (1, 2, 3, 4, 5):
        assert np.isnan(out[k, 9:18, 9:18]).all()
    assert np.isfinite(out[0]).all() and np.isfinite(out[9]).all()
    # block means of the original times stay close to the coarse input
    blocks = block_mean(out[[0, 9]])
    ok = np.isfinite(data[[0, 3]])
    rel = np.abs(blocks - data[[0, 3]])[ok].mean() / np.abs(data[[0, 3]][ok]).mean()
    assert rel < 0.1


# --- Processing algorithms -------------------------------------------------------------------------

@pytest.fixture
def cams_tif(shared_data, tmp_path):
    data, grid, names = _cams_crop(shared_data, rows=slice(60, 84), cols=slice(380, 404))
    path = str(tmp_path / "cams_crop.tif")
    write_raster(path, data[:3], grid, band_names=names[:3], units="ug m-3")
    return path, grid


def run(alg, params, **kw):
    import processing

    return processing.run(f"airmap:{alg}", params, **kw)


def test_abpn_algorithm_refines_the_grid_exactly(airmap_provider, cams_tif, tmp_path):
    path, grid = cams_tif
    res = run("abpn", {"INPUT": path, "OUTPUT": str(tmp_path / "a.tif")})
    with rasterio.open(res["OUTPUT"]) as ds:
        assert (ds.count, ds.height, ds.width) == (3, 72, 72)
        assert ds.transform == Affine(0.25, 0, grid.transform.c, 0, -0.25, grid.transform.f)
        assert ds.crs.to_epsg() == 4326 and ds.bounds == pytest.approx(grid.bounds)
        assert list(ds.descriptions) == TIMES
        out = ds.read()
    with rasterio.open(path) as ds:
        coarse = ds.read()
    np.testing.assert_allclose(block_mean(out), coarse, rtol=1e-4)     # CONSERVE is on by default
    raw = run("abpn", {"INPUT": path, "CONSERVE": False, "OUTPUT": str(tmp_path / "raw.tif")})
    with rasterio.open(raw["OUTPUT"]) as ds:
        raw_out = ds.read()
    assert not np.allclose(block_mean(raw_out), coarse, rtol=1e-4)
    assert np.abs(raw_out - out).mean() < 0.05 * np.abs(out).mean()


def test_xvfi_algorithm_inserts_times(airmap_provider, cams_tif, tmp_path):
    path, grid = cams_tif
    res = run("xvfi", {"INPUT": path, "OUTPUT": str(tmp_path / "x.tif"), "DEVICE": 1})
    with rasterio.open(res["OUTPUT"]) as ds:
        assert (ds.count, ds.height, ds.width) == (7, 24, 24)
        assert ds.transform == grid.transform
        assert list(ds.descriptions) == output_band_names(TIMES)


def test_xvfi_on_the_whole_real_cams_file(airmap_provider, shared_data, tmp_path):
    res = run("xvfi", {"INPUT": str(shared_data / "cams_pm25_0p75_20191231.nc"), "OUTPUT": str(tmp_path / "c.tif")})
    with rasterio.open(res["OUTPUT"]) as ds:
        assert (ds.count, ds.height, ds.width) == (10, 241, 480)
        assert ds.descriptions[1] == "2019-12-31T16:00:00" and ds.descriptions[9] == "2020-01-01T00:00:00"
        assert ds.read(2).min() >= 0


def test_deepcams_algorithm_with_required_parameters_only(airmap_provider, cams_tif, tmp_path):
    path, grid = cams_tif
    res = run("deepcams", {"INPUT": path, "OUTPUT": str(tmp_path / "d.tif")})
    with rasterio.open(res["OUTPUT"]) as ds:
        assert (ds.count, ds.height, ds.width) == (7, 72, 72)
        assert ds.transform == Affine(0.25, 0, grid.transform.c, 0, -0.25, grid.transform.f)
        assert ds.descriptions[2] == "2019-12-31T17:00:00"


def _chain_model():
    """A graphical-modeler model: raster input -> airmap:xvfi -> airmap:abpn -> output. Only the
    inputs are set: DEVICE (and every other setting) is optional, so a chain need not set it."""
    return chain_model("deepcams chain", [("airmap:xvfi", "xvfi", {}), ("airmap:abpn", "abpn", {})],
                       raster_input="stack")


def test_modeler_chain_xvfi_then_abpn_equals_deepcams(airmap_provider, cams_tif, tmp_path):
    """XVFI -> ABPN chained in a graphical model gives what airmap:deepcams gives."""
    import processing
    from qgis.core import QgsProcessingContext, QgsProcessingFeedback

    path, _ = cams_tif
    model = _chain_model()
    ok, errors = model.validate()
    assert ok, errors
    fine = model_output(model)
    res = processing.run(model, {"stack": path, fine: str(tmp_path / "two.tif")},
                         context=QgsProcessingContext(), feedback=QgsProcessingFeedback())
    two = res[fine]
    one = run("deepcams", {"INPUT": path, "OUTPUT": str(tmp_path / "one.tif")})["OUTPUT"]
    with rasterio.open(one) as a, rasterio.open(two) as b:
        assert a.count == b.count == 7 and a.transform == b.transform
        np.testing.assert_allclose(a.read(), b.read(), rtol=1e-5, atol=1e-4)


def test_device_is_optional_everywhere_and_missing_means_auto(airmap_provider):
    from qgis.core import QgsApplication, QgsProcessingContext

    from airmap.provider.parameters import device_choice

    declaring = []
    for alg in QgsApplication.processingRegistry().providerById("airmap").algorithms():
        param = alg.parameterDefinition("DEVICE")
        if param is None:
            continue
        declaring.append(alg.name())
        assert param.flags() & param.FlagOptional, alg.name()
        assert param.options()[param.defaultValue()] == "auto", alg.name()
        context = QgsProcessingContext()
        for missing in ({}, {"DEVICE": None}):
            assert device_choice(alg, missing, context) == "auto", (alg.name(), missing)
        assert device_choice(alg, {"DEVICE": 1}, context) == "cpu"
    assert {"abpn", "xvfi", "deepcams"} <= set(declaring)


def test_bad_inputs_raise_and_leave_no_output(airmap_provider, tmp_path):
    from qgis.core import QgsProcessingException

    grid = Grid.from_extent(0, 0, 10, 10, 1.0, "EPSG:4326")
    one_band = str(tmp_path / "one.tif")
    write_raster(one_band, np.ones((1, 10, 10), np.float32), grid)
    out = str(tmp_path / "o.tif")
    with pytest.raises(QgsProcessingException, match="at least 2 bands"):
        run("xvfi", {"INPUT": one_band, "OUTPUT": out})
    assert not os.path.exists(out)
    empty = str(tmp_path / "empty.tif")
    write_raster(empty, np.full((2, 10, 10), np.nan, np.float32), grid)
    with pytest.raises(QgsProcessingException, match="no data"):
        run("abpn", {"INPUT": empty, "OUTPUT": out})
    bad_model = tmp_path / "bad.onnx"
    bad_model.write_bytes(b"garbage")
    with pytest.raises(QgsProcessingException, match="corrupt"):
        run("abpn", {"INPUT": one_band, "OUTPUT": out, "MODEL": str(bad_model)})
    assert not os.path.exists(out)


def test_device_cuda_without_a_gpu_says_what_to_do(airmap_provider, cams_tif, tmp_path):
    """DEVICE=cuda runs on CUDA where there is a driver; elsewhere it fails with the fix."""
    from qgis.core import QgsProcessingException

    from airmap.core.onnx_runtime import _cuda_driver_present

    path, _ = cams_tif
    out = str(tmp_path / "cuda.tif")
    params = {"INPUT": path, "OUTPUT": out, "DEVICE": 2}
    import onnxruntime as ort
    if _cuda_driver_present() and "CUDAExecutionProvider" in ort.get_available_providers():
        with rasterio.open(run("xvfi", params)["OUTPUT"]) as ds:
            assert ds.count == 7
    else:
        with pytest.raises(QgsProcessingException, match="choose 'auto' or 'cpu'"):
            run("xvfi", params)
        assert not os.path.exists(out)
