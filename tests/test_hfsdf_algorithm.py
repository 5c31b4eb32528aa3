"""airmap:hfsdf inside QGIS Processing (pytest-qgis): the real TROPOMI scene and CAMS file,
station points, the confidence output, bad input and cancellation."""
import numpy as np
import pytest
import rasterio
from qgis.core import QgsProcessingException, QgsProcessingFeedback, QgsRasterLayer

from airmap.core.grid import Grid
from airmap.core.raster_io import netcdf_uri, write_raster
from helpers import chain_model, make_point_layer, model_output, smooth_field

import processing

NO2 = "tropospheric_NO2_column_number_density"


def run(params, **kw):
    return processing.run("airmap:hfsdf", params, **kw)


def raster_layer(uri, name="input"):
    layer = QgsRasterLayer(uri, name)
    assert layer.isValid(), uri
    return layer


def test_tropomi_gaps_filled_at_finer_pixels(airmap_provider, shared_data, tmp_path):
    uri = netcdf_uri(str(shared_data / "tropomi_no2_nl_20211217T114745.nc"), NO2)
    with rasterio.open(uri) as ds:
        src = ds.read(1).astype(float)
    out, conf = str(tmp_path / "no2.tif"), str(tmp_path / "no2_conf.tif")
    res = run({"INPUT": raster_layer(uri), "PIXEL_SIZE": 0.025, "ITERATIONS": 3, "MAX_POINTS": 512,
               "OUTPUT": out, "CONFIDENCE": conf})
    with rasterio.open(res["OUTPUT"]) as ds:
        data = ds.read(1)
        assert (ds.width, ds.height) == (216, 152) and ds.crs.to_epsg() == 4326
        assert ds.res == pytest.approx((0.025, 0.025))
    assert np.isfinite(data).all()                       # clouds (62 % no-data) filled
    valid = np.isfinite(src)
    coarse = data.reshape(38, 4, 54, 4).mean(axis=(1, 3))  # back on the input grid
    assert np.corrcoef(coarse[valid], src[valid])[0, 1] > 0.85      # observations honoured
    assert np.nanmin(src) * 0.3 < np.median(data) < np.nanmax(src)   # mol/m2 magnitudes kept
    with rasterio.open(res["CONFIDENCE"]) as ds:
        c = ds.read(1)
        assert c.shape == data.shape and (c >= 0).all() and np.median(c) < 0.01 * np.ptp(src[valid])


def test_netcdf_subdataset_string_as_input(airmap_provider, shared_data, tmp_path):
    """As airmap:bicubic takes it: the raster INPUT accepts a 'NETCDF:"file":variable' string."""
    uri = netcdf_uri(str(shared_data / "tropomi_no2_nl_20211217T114745.nc"), NO2)
    res = run({"INPUT": uri, "PIXEL_SIZE": 0.2, "ITERATIONS": 2, "MAX_POINTS": 256, "OUTPUT": str(tmp_path / "s.tif")})
    with rasterio.open(res["OUTPUT"]) as ds:
        assert ds.crs.to_epsg() == 4326 and np.isfinite(ds.read(1)).all()


def test_cams_region_at_any_pixel_size(airmap_provider, shared_data, tmp_path):
    uri = netcdf_uri(str(shared_data / "cams_pm25_0p75_20191231.nc"), "pm25")
    res = run({"INPUT": raster_layer(uri), "BAND": 2, "EXTENT": "100,112,25,37 [EPSG:4326]",
               "PIXEL_SIZE": 0.2, "ITERATIONS": 3, "MAX_POINTS": 512, "SURFACE": 1, "MC_LEVELS": 48,
               "OUTPUT": str(tmp_path / "cams.tif")})
    with rasterio.open(res["OUTPUT"]) as ds:
        data = ds.read(1)
        assert (ds.width, ds.height) == (60, 60)
        assert ds.bounds.left == pytest.approx(100) and ds.bounds.top == pytest.approx(37)
    with rasterio.open(uri) as ds:
        band = ds.read(2)
        t = ds.transform
    r0, r1 = int((90.375 - 37) / 0.75), int((90.375 - 25) / 0.75)
    c0, c1 = int((100 + 180.375) / 0.75), int((112 + 180.375) / 0.75)
    region = band[r0:r1, c0:c1]
    assert np.isfinite(data).all()
    assert region.min() - 0.2 * np.ptp(region) < data.mean() < region.max()


def test_station_points(airmap_provider, tmp_path):
    rng = np.random.default_rng(3)
    x, y = rng.uniform(100, 110, 80), rng.uniform(30, 38, 80)
    layer = make_point_layer([(float(a), float(b), float(c)) for a, b, c in zip(x, y, smooth_field(x, y))])
    res = run({"STATIONS": layer, "FIELD": "value", "EXTENT": "100,110,30,38 [EPSG:4326]", "PIXEL_SIZE": 0.2,
               "ITERATIONS": 3, "MAX_POINTS": 512, "OUTPUT": str(tmp_path / "st.tif")})
    with rasterio.open(res["OUTPUT"]) as ds:
        data = ds.read(1)
    assert data.shape == (40, 50)
    gx, gy = Grid.from_extent(100, 30, 110, 38, 0.2).cell_centres()
    assert np.corrcoef(data.ravel(), smooth_field(gx, gy).ravel())[0, 1] > 0.7


def test_bad_input_and_cancel_leave_no_output(airmap_provider, tmp_path):
    out = tmp_path / "bad.tif"
    layer = make_point_layer([(1.0, 1.0, 2.0), (2.0, 2.0, 3.0), (3.0, 1.0, 4.0)])
    with pytest.raises(QgsProcessingException, match="Field 'pm25' is not in the layer: choose one of value"):
        run({"STATIONS": layer, "OUTPUT": str(out)})          # FIELD defaults to a pollutant name
    with pytest.raises(QgsProcessingException, match="either a raster INPUT or STATIONS"):
        run({"OUTPUT": str(out)})
    empty_grid = Grid.from_extent(0, 0, 10, 10, 1.0, "EPSG:3857")
    empty = str(tmp_path / "empty.tif")
    write_raster(empty, np.full((10, 10), np.nan, np.float32), empty_grid)
    with pytest.raises(QgsProcessingException, match="no data|no valid value"):
        run({"INPUT": raster_layer(empty), "OUTPUT": str(out)})
    ok = str(tmp_path / "ok.tif")
    write_raster(ok, np.random.default_rng(0).random((10, 10)).astype(np.float32), empty_grid)
    with pytest.raises(QgsProcessingException, match="either a raster INPUT or STATIONS"):
        run({"INPUT": ok, "STATIONS": layer, "FIELD": "value", "OUTPUT": str(out)})
    with pytest.raises(QgsProcessingException, match="BAND"):
        run({"INPUT": ok, "BAND": 3, "OUTPUT": str(out)})   # a file path works too
    with pytest.raises(QgsProcessingException, match="does not overlap"):
        run({"INPUT": raster_layer(ok), "EXTENT": "100,110,100,110 [EPSG:3857]", "PIXEL_SIZE": 1,
             "OUTPUT": str(out)})
    feedback = QgsProcessingFeedback()
    feedback.cancel()
    with pytest.raises(QgsProcessingException, match="Cancelled"):
        run({"INPUT": raster_layer(ok), "OUTPUT": str(out)}, feedback=feedback)
    assert not out.exists()


def test_graphical_model_on_cams(airmap_provider, shared_data, tmp_path):
    """A modeler chain: raster input -> airmap:hfsdf (only its required inputs + a pixel size)."""
    from qgis.core import QgsProcessingContext

    model = chain_model("hfsdf chain", [("airmap:hfsdf", "hfsdf", {
        "PIXEL_SIZE": 0.25, "EXTENT": "60,90,5,35 [EPSG:4326]", "ITERATIONS": 3, "MAX_POINTS": 512})],
        raster_input="coarse")
    ok, errors = model.validate()
    assert ok, errors
    uri = netcdf_uri(str(shared_data / "cams_pm25_0p75_20191231.nc"), "pm25")
    fine = model_output(model)
    res = processing.run(model, {"coarse": raster_layer(uri), fine: str(tmp_path / "fine.tif")},
                         context=QgsProcessingContext(), feedback=QgsProcessingFeedback())
    with rasterio.open(res[fine]) as ds:
        assert (ds.width, ds.height) == (120, 120) and np.isfinite(ds.read(1)).all()
