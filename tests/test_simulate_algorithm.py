"""airmap:simulate inside QGIS: files named after their variable, typed outputs that chain,
given rasters used, bad input refused without leftovers."""
import os

import numpy as np
import pytest
import rasterio
from qgis.core import QgsProcessingException, QgsVectorLayer

from airmap.core.grid import Grid
from airmap.core.raster_io import write_raster

import processing

EXTENT = "500000,620000,4000000,4120000 [EPSG:32650]"


def run(params):
    return processing.run("airmap:simulate", params)


def test_writes_named_products_and_typed_outputs(airmap_provider, tmp_path):
    res = run({"EXTENT": EXTENT, "PIXEL_SIZE": 5000, "DAYS": 2, "SEED": 3, "N_STATIONS": 15,
               "OUTPUT_FOLDER": str(tmp_path)})
    names = sorted(os.listdir(tmp_path))
    for name in ("pm25_hourly.tif", "pm25_daily.tif", "pm25_coarse_3h.tif", "rh_hourly.tif",
                 "wind_speed_hourly.tif", "u_hourly.tif", "v_hourly.tif", "dem.tif", "urban.tif",
                 "pm25_satellite_daily.tif", "stations.gpkg", "stations.csv"):
        assert name in names
    with rasterio.open(res["PM25_DAILY"]) as ds:
        assert (ds.count, ds.width, ds.height) == (2, 24, 24)
        assert ds.crs.to_epsg() == 32650 and ds.descriptions == ("2017-01-01", "2017-01-02")
        assert ds.transform.c == pytest.approx(500000) and ds.transform.f == pytest.approx(4120000)
        daily = ds.read()
    with rasterio.open(res["PM25_HOURLY"]) as ds:
        assert ds.count == 48 and ds.descriptions[5] == "2017-01-01T05:00:00"
    with rasterio.open(res["PM25_COARSE"]) as ds:
        assert (ds.count, ds.width) == (16, 8)
    stations = QgsVectorLayer(res["STATIONS"], "s", "ogr")
    assert stations.isValid() and stations.featureCount() == 15
    assert stations.crs().authid() == "EPSG:32650"
    assert {"site_id", "pm25", "pm25_20170102"} <= set(stations.fields().names())
    # The stations chain into a station method.
    idw = processing.run("airmap:idw", {"INPUT": res["STATIONS"], "FIELD": "pm25",
                                        "EXTENT": EXTENT, "PIXEL_SIZE": 5000, "OUTPUT": "TEMPORARY_OUTPUT"})
    with rasterio.open(idw["OUTPUT"]) as ds:
        estimate = ds.read(1)
    assert np.corrcoef(estimate.ravel(), daily[0].ravel())[0, 1] > 0.3
    # Same seed, same bytes.
    again = run({"EXTENT": EXTENT, "PIXEL_SIZE": 5000, "DAYS": 2, "SEED": 3, "N_STATIONS": 15,
                 "OUTPUT_FOLDER": str(tmp_path / "again")})
    with rasterio.open(again["PM25_DAILY"]) as ds:
        np.testing.assert_array_equal(ds.read(), daily)


def test_geographic_extent_runs_in_a_local_projection(airmap_provider, tmp_path):
    res = run({"EXTENT": "115,116,39,40 [EPSG:4326]", "PIXEL_SIZE": 5000, "DAYS": 1,
               "N_STATIONS": 5, "OUTPUT_FOLDER": str(tmp_path)})
    with rasterio.open(res["PM25_DAILY"]) as ds:
        assert ds.crs.is_projected and "laea" in ds.crs.to_proj4()
        assert 18 <= ds.width <= 20 and 22 <= ds.height <= 24


def test_given_dem_sets_the_grid(airmap_provider, tmp_path):
    grid = Grid.from_extent(300000, 3000000, 300000 + 20 * 3000, 3000000 + 16 * 3000, 3000, "EPSG:32650")
    dem = np.tile(np.linspace(0, 1500, 20, dtype=np.float32), (16, 1))
    dem_path = write_raster(str(tmp_path / "in_dem.tif"), dem, grid)
    res = run({"DEM": dem_path, "DAYS": 1, "N_STATIONS": 5, "OUTPUT_FOLDER": str(tmp_path / "out")})
    with rasterio.open(res["DEM_OUTPUT"]) as ds:
        assert (ds.width, ds.height) == (20, 16)
        np.testing.assert_allclose(ds.read(1), dem)


def test_bad_input_is_refused_without_leftovers(airmap_provider, tmp_path):
    grid = Grid.from_extent(100, 30, 102, 32, 0.1, "EPSG:4326")
    dem_path = write_raster(str(tmp_path / "geo_dem.tif"), np.zeros((20, 20), np.float32), grid)
    out = tmp_path / "out"
    with pytest.raises(QgsProcessingException, match="projected"):
        run({"DEM": dem_path, "DAYS": 1, "OUTPUT_FOLDER": str(out)})
    assert not out.exists() or not os.listdir(out)
    with pytest.raises(QgsProcessingException):
        run({"EXTENT": EXTENT, "PIXEL_SIZE": 100000, "DAYS": 1, "OUTPUT_FOLDER": str(out)})
