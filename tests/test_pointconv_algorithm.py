"""airmap:pointconv inside QGIS Processing (pytest-qgis), and PointConv in airmap:crossvalidate."""
import numpy as np
import pytest
import rasterio
from qgis.core import QgsProcessingException, QgsProcessingFeedback

from airmap.core.grid import Grid
from airmap.core.raster_io import write_raster
from helpers import make_point_layer, smooth_field, smooth_field_stations, station_layer_from

import processing


def run(alg, params, **kw):
    return processing.run(f"airmap:{alg}", params, **kw)


@pytest.fixture
def stations():
    """150 stations on the smooth field over lon 100-110, lat 30-38 (EPSG:4326)."""
    return smooth_field_stations()


@pytest.fixture
def layer(stations):
    return station_layer_from(*stations)


def test_pointconv_from_the_toolbox(airmap_provider, layer, tmp_path):
    out = str(tmp_path / "pc.tif")
    feedback = QgsProcessingFeedback()
    messages = []
    feedback.pushInfo = messages.append
    res = run("pointconv", {"INPUT": layer, "FIELD": "value", "EXTENT": "100,110,30,38 [EPSG:4326]",
                            "PIXEL_SIZE": 0.1, "OUTPUT": out}, feedback=feedback)
    with rasterio.open(res["OUTPUT"]) as ds:
        assert (ds.width, ds.height) == (100, 80) and ds.crs.to_epsg() == 4326
        data = ds.read(1)
    x, y = Grid.from_extent(100, 30, 110, 38, 0.1).cell_centres()
    assert np.corrcoef(data.ravel(), smooth_field(x, y).ravel())[0, 1] > 0.85
    assert any("PM2.5-stations-only" in m for m in messages)


def test_meteorology_dem_and_urban_layers(airmap_provider, layer, stations, tmp_path):
    x, y, _ = stations
    rng = np.random.default_rng(4)
    met = make_point_layer([(float(a) + 0.03, float(b), float(r), float(w))
                            for a, b, r, w in zip(x[:80], y[:80], 40 + 40 * rng.random(80), 1 + 4 * rng.random(80))],
                           fields=(("rh", "double"), ("ws", "double")), name="met")
    dem_grid = Grid.from_extent(99, 29, 111, 39, 0.25, "EPSG:4326")
    dem = str(tmp_path / "dem.tif")
    write_raster(dem, np.full(dem_grid.shape, 300.0), dem_grid)
    feedback = QgsProcessingFeedback()
    messages = []
    feedback.pushInfo = messages.append
    res = run("pointconv", {"INPUT": layer, "FIELD": "value", "PIXEL_SIZE": 0.1,
                            "RH_INPUT": met, "RH_FIELD": "rh", "WIND_INPUT": met, "WIND_FIELD": "ws",
                            "DEM": dem, "OUTPUT": str(tmp_path / "met.tif")}, feedback=feedback)
    with rasterio.open(res["OUTPUT"]) as ds:
        assert np.isfinite(ds.read(1)).all()
    assert any("relative-humidity and wind-speed" in m for m in messages)
    assert any("No urban fraction given" in m for m in messages)


def test_bad_inputs_leave_no_output(airmap_provider, layer, tmp_path):
    out = tmp_path / "bad.tif"
    with pytest.raises(QgsProcessingException, match="inside the EXTENT"):
        run("pointconv", {"INPUT": layer, "FIELD": "value", "EXTENT": "0,1,0,1 [EPSG:4326]",
                          "PIXEL_SIZE": 0.1, "OUTPUT": str(out)})
    broken = tmp_path / "broken.onnx"
    broken.write_bytes(b"junk")
    with pytest.raises(QgsProcessingException, match="corrupt"):
        run("pointconv", {"INPUT": layer, "FIELD": "value", "MODEL": str(broken), "OUTPUT": str(out)})
    with pytest.raises(QgsProcessingException, match="RH_FIELD"):
        run("pointconv", {"INPUT": layer, "FIELD": "value", "RH_INPUT": layer, "OUTPUT": str(out)})
    assert not out.exists()


def test_pointconv_in_crossvalidate(airmap_provider, layer):
    from airmap.core.station_methods import method_keys

    method = method_keys().index("pointconv")
    res = run("crossvalidate", {"INPUT": layer, "FIELD": "value", "METHOD": method, "FOLDS": 5,
                                "PIXEL_SIZE": 0.1, "OUTPUT": "TEMPORARY_OUTPUT", "METRICS": "TEMPORARY_OUTPUT"})
    assert res["N"] == 150 and res["R2"] > 0.7
