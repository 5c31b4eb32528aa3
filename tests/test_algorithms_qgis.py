"""Foundation items 3 (pytest-qgis), 6-10: the Processing algorithms inside QGIS."""
import os

import numpy as np
import pytest
import rasterio
from qgis.core import (Qgis, QgsCoordinateReferenceSystem, QgsProcessingContext, QgsProcessingException,
                       QgsProcessingFeedback, QgsProject, QgsRasterLayer, QgsSingleBandPseudoColorRenderer)

from airmap.core.grid import Grid
from airmap.core.raster_io import write_raster
from helpers import chain_model, make_point_layer, model_output, smooth_field

import processing


def run(alg, params, **kw):
    return processing.run(f"airmap:{alg}", params, **kw)


def test_idw_grid_starts_at_extent_corner_with_square_cells(airmap_provider, station_layer, tmp_path):
    out = str(tmp_path / "idw.tif")
    res = run("idw", {"INPUT": station_layer, "FIELD": "value", "EXTENT": "100,110,30,38 [EPSG:4326]",
                      "PIXEL_SIZE": 0.25, "OUTPUT": out})
    with rasterio.open(res["OUTPUT"]) as ds:
        assert (ds.width, ds.height) == (40, 32)
        assert ds.transform.c == pytest.approx(100) and ds.transform.f == pytest.approx(38)
        assert ds.res == (0.25, 0.25) and ds.crs.to_epsg() == 4326
        data = ds.read(1)
    x, y = Grid.from_extent(100, 30, 110, 38, 0.25).cell_centres()
    assert np.corrcoef(data.ravel(), smooth_field(x, y).ravel())[0, 1] > 0.9


def test_only_required_parameters_are_needed(airmap_provider, station_layer):
    res = run("idw", {"INPUT": station_layer, "FIELD": "value", "OUTPUT": "TEMPORARY_OUTPUT"})
    with rasterio.open(res["OUTPUT"]) as ds:
        assert max(ds.width, ds.height) == 256


def test_target_crs_reprojects_stations(airmap_provider, station_layer, tmp_path):
    res = run("idw", {"INPUT": station_layer, "FIELD": "value", "TARGET_CRS": "EPSG:3857",
                      "PIXEL_SIZE": 20000, "OUTPUT": str(tmp_path / "merc.tif")})
    with rasterio.open(res["OUTPUT"]) as ds:
        assert ds.crs.to_epsg() == 3857
        assert 11_000_000 < ds.bounds.left < 11_200_000  # 100°E in web mercator metres


def test_kriging_with_variance_output(airmap_provider, station_layer, tmp_path):
    res = run("kriging", {"INPUT": station_layer, "FIELD": "value", "PIXEL_SIZE": 0.5, "VARIOGRAM": 1,
                          "OUTPUT": str(tmp_path / "k.tif"), "VARIANCE_OUTPUT": str(tmp_path / "v.tif")})
    with rasterio.open(res["VARIANCE_OUTPUT"]) as ds:
        assert ds.read(1).min() >= 0
    assert os.path.exists(res["OUTPUT"])


def test_several_stations_in_a_cell_and_null_values(airmap_provider, tmp_path):
    layer = make_point_layer([(0.1, 0.1, 10.0), (0.2, 0.2, 30.0), (5.5, 5.5, None), (9.5, 9.5, 50.0)])
    feedback = QgsProcessingFeedback()
    messages = []
    feedback.pushInfo = messages.append
    res = run("idw", {"INPUT": layer, "FIELD": "value", "EXTENT": "0,10,0,10 [EPSG:4326]", "PIXEL_SIZE": 1,
                      "OUTPUT": str(tmp_path / "o.tif")}, feedback=feedback)
    assert any("1 of 4 stations have no value" in m for m in messages)
    with rasterio.open(res["OUTPUT"]) as ds:
        band = ds.read(1)
        assert band[0, 9] == pytest.approx(50.0, abs=2.0) and 10 < band[9, 0] < 30


def test_bicubic_and_lineartime_on_real_cams(airmap_provider, shared_data, tmp_path):
    cams = str(shared_data / "cams_pm25_0p75_20191231.nc")
    res = run("bicubic", {"INPUT": cams, "OUTPUT": str(tmp_path / "b.tif")})
    with rasterio.open(res["OUTPUT"]) as ds:
        assert (ds.count, ds.height, ds.width) == (4, 723, 1440)
        assert ds.res == pytest.approx((0.25, 0.25)) and ds.transform.f == pytest.approx(90.375)
        assert ds.descriptions[0] == "2019-12-31T15:00:00"
    res = run("lineartime", {"INPUT": cams, "OUTPUT": str(tmp_path / "t.tif")})
    with rasterio.open(res["OUTPUT"]) as ds:
        assert ds.count == 10 and ds.descriptions[1] == "2019-12-31T16:00:00"


def test_netcdf_subdataset_string_is_accepted_as_raster_input(airmap_provider, shared_data, tmp_path):
    """NETCDF:"file":variable works as INPUT in processing.run and as a model child's static
    value, giving what a QgsRasterLayer made from the same string gives."""
    uri = f'NETCDF:"{shared_data / "cams_pm25_0p75_20191231.nc"}":pm25'
    from_layer = run("bicubic", {"INPUT": QgsRasterLayer(uri, "pm25"), "OUTPUT": str(tmp_path / "layer.tif")})
    from_string = run("bicubic", {"INPUT": uri, "OUTPUT": str(tmp_path / "string.tif")})

    model = chain_model("subdataset input", [("airmap:bicubic", "bicubic", {"INPUT": uri})])
    fine = model_output(model)
    from_model = processing.run(model, {fine: str(tmp_path / "model.tif")},
                                context=QgsProcessingContext(), feedback=QgsProcessingFeedback())
    with rasterio.open(from_layer["OUTPUT"]) as a:
        expected = a.read()
        assert a.count == 4 and (a.height, a.width) == (723, 1440)
    for path in (from_string["OUTPUT"], from_model[fine]):
        with rasterio.open(path) as b:
            np.testing.assert_array_equal(b.read(), expected)


@pytest.mark.skipif(Qgis.versionInt() < 34000, reason="QGIS 3.22 checks a model's own raster input itself and "
                    "takes only layers and files there (README)")
def test_netcdf_subdataset_string_as_a_graphical_model_input(airmap_provider, shared_data, tmp_path):
    uri = f'NETCDF:"{shared_data / "cams_pm25_0p75_20191231.nc"}":pm25'
    model = chain_model("subdataset model input", [("airmap:bicubic", "bicubic", {})], raster_input="coarse")
    fine = model_output(model)
    from_model = processing.run(model, {"coarse": uri, fine: str(tmp_path / "model.tif")},
                                context=QgsProcessingContext(), feedback=QgsProcessingFeedback())
    from_layer = run("bicubic", {"INPUT": QgsRasterLayer(uri, "pm25"), "OUTPUT": str(tmp_path / "layer.tif")})
    with rasterio.open(from_model[fine]) as a, rasterio.open(from_layer["OUTPUT"]) as b:
        assert a.count == 4
        np.testing.assert_array_equal(a.read(), b.read())


def test_netcdf_subdataset_string_with_an_unknown_variable_says_what_to_check(airmap_provider, shared_data,
                                                                              tmp_path):
    uri = f'NETCDF:"{shared_data / "cams_pm25_0p75_20191231.nc"}":no2'
    out = tmp_path / "o.tif"
    with pytest.raises(QgsProcessingException, match="check the variable name"):
        run("bicubic", {"INPUT": uri, "OUTPUT": str(out)})
    assert not out.exists()


def test_evaluate_against_raster_and_points_writes_table_and_report(airmap_provider, station_layer, tmp_path):
    pred = run("idw", {"INPUT": station_layer, "FIELD": "value", "PIXEL_SIZE": 0.25,
                       "OUTPUT": str(tmp_path / "p.tif")})["OUTPUT"]
    grid = Grid.from_extent(99, 29, 111, 39, 0.1, "EPSG:4326")
    truth = write_raster(str(tmp_path / "truth.tif"), smooth_field(*grid.cell_centres()), grid)
    html = str(tmp_path / "report.html")
    res = run("evaluate", {"INPUT": pred, "REFERENCE": truth, "OUTPUT": "TEMPORARY_OUTPUT", "OUTPUT_HTML": html})
    assert res["R"] > 0.9 and res["N"] > 1000
    table = res["OUTPUT"]
    row = next(table.getFeatures())
    assert row["RMSE"] == pytest.approx(res["RMSE"])
    text = open(html, encoding="utf-8").read()
    assert text.count("data:image/png;base64") == 2 and "IOA" in text
    res = run("evaluate", {"INPUT": pred, "REFERENCE_POINTS": station_layer, "REFERENCE_FIELD": "value",
                           "OUTPUT": "TEMPORARY_OUTPUT"})
    assert res["N"] == 60 and res["R"] > 0.9


def test_evaluate_needs_a_reference(airmap_provider, tmp_path):
    grid = Grid.from_extent(0, 0, 2, 2, 1.0, "EPSG:4326")
    pred = write_raster(str(tmp_path / "p.tif"), np.ones((2, 2)), grid)
    with pytest.raises(QgsProcessingException, match="REFERENCE"):
        run("evaluate", {"INPUT": pred, "OUTPUT": "TEMPORARY_OUTPUT"})


def test_crossvalidate_leave_stations_and_groups_out(airmap_provider):
    rng = np.random.default_rng(0)
    pts = [(float(x), float(y), float(smooth_field(x, y)), f"city{int(x) // 2}")
           for x, y in zip(rng.uniform(100, 110, 80), rng.uniform(30, 38, 80))]
    layer = make_point_layer(pts, fields=(("value", "double"), ("city", "string")))
    res = run("crossvalidate", {"INPUT": layer, "FIELD": "value", "METHOD": 0, "FOLDS": 5,
                                "OUTPUT": "TEMPORARY_OUTPUT", "METRICS": "TEMPORARY_OUTPUT"})
    assert res["OUTPUT"].featureCount() == 80 and res["N"] == 80 and res["R2"] > 0.5
    grouped = run("crossvalidate", {"INPUT": layer, "FIELD": "value", "METHOD": 1, "FOLDS": 5,
                                    "GROUP_FIELD": "city", "OUTPUT": "TEMPORARY_OUTPUT",
                                    "METRICS": "TEMPORARY_OUTPUT"})
    folds_by_city = {}
    for f in grouped["OUTPUT"].getFeatures():
        folds_by_city.setdefault(pts[f.id() - 1][3], set()).add(f["fold"])
    assert all(len(v) == 1 for v in folds_by_city.values())
    assert next(grouped["METRICS"].getFeatures())["validation"] == "5-fold leave-city-out"


def test_output_is_styled_with_units_when_loaded_but_not_in_scripts(airmap_provider, station_layer, tmp_path):
    project = QgsProject.instance()
    project.removeAllMapLayers()
    run("idw", {"INPUT": station_layer, "FIELD": "value", "PIXEL_SIZE": 0.5, "OUTPUT": str(tmp_path / "s.tif")})
    assert project.mapLayers() == {}  # processing.run loads nothing
    processing.runAndLoadResults("airmap:idw", {"INPUT": station_layer, "FIELD": "value", "PIXEL_SIZE": 0.5,
                                                "UNITS": "µg/m³", "OUTPUT": str(tmp_path / "l.tif")})
    layers = [l for l in project.mapLayers().values() if isinstance(l, QgsRasterLayer)]
    assert len(layers) == 1
    assert layers[0].name() == "stations IDW [µg/m³]"   # <input> <method> [units]
    assert isinstance(layers[0].renderer(), QgsSingleBandPseudoColorRenderer)
    project.removeAllMapLayers()


# --- item 10: bad input ---------------------------------------------------------------------

def assert_fails_cleanly(alg, params, message, tmp_path, feedback=None):
    with pytest.raises(QgsProcessingException, match=message):
        run(alg, params, feedback=feedback)
    assert [p.name for p in tmp_path.iterdir() if p.suffix in (".tif", ".html")] == []


def test_empty_layer(airmap_provider, tmp_path):
    assert_fails_cleanly("idw", {"INPUT": make_point_layer([]), "FIELD": "value", "PIXEL_SIZE": 1,
                                 "EXTENT": "0,1,0,1 [EPSG:4326]", "OUTPUT": str(tmp_path / "o.tif")},
                         "empty", tmp_path)


def test_all_null_field(airmap_provider, tmp_path):
    layer = make_point_layer([(0, 0, None), (1, 1, None)])
    assert_fails_cleanly("idw", {"INPUT": layer, "FIELD": "value", "OUTPUT": str(tmp_path / "o.tif")},
                         "NULL or NaN at every station", tmp_path)


def test_text_field(airmap_provider, tmp_path):
    layer = make_point_layer([(0, 0, "high"), (1, 1, "low")], fields=(("label", "string"),))
    assert_fails_cleanly("idw", {"INPUT": layer, "FIELD": "label", "OUTPUT": str(tmp_path / "o.tif")},
                         "not a number", tmp_path)


def test_kriging_with_two_stations(airmap_provider, tmp_path):
    layer = make_point_layer([(0, 0, 1.0), (1, 1, 2.0)])
    assert_fails_cleanly("kriging", {"INPUT": layer, "FIELD": "value", "OUTPUT": str(tmp_path / "o.tif")},
                         "at least 3 stations", tmp_path)


def test_extent_not_overlapping_the_stations(airmap_provider, station_layer, tmp_path):
    assert_fails_cleanly("idw", {"INPUT": station_layer, "FIELD": "value", "EXTENT": "0,5,0,5 [EPSG:4326]",
                                 "PIXEL_SIZE": 1, "OUTPUT": str(tmp_path / "o.tif")},
                         "No station lies inside the EXTENT", tmp_path)


def test_unknown_crs(airmap_provider, tmp_path):
    layer = make_point_layer([(0, 0, 1.0), (1, 1, 2.0), (2, 0, 3.0)])
    layer.setCrs(QgsCoordinateReferenceSystem())
    assert not layer.crs().isValid()
    assert_fails_cleanly("idw", {"INPUT": layer, "FIELD": "value", "PIXEL_SIZE": 0.1,
                                 "OUTPUT": str(tmp_path / "o.tif")}, "no valid CRS", tmp_path)


def test_all_nodata_raster(airmap_provider, tmp_path):
    src_dir = tmp_path / "in"
    grid = Grid.from_extent(0, 0, 3, 3, 1.0, "EPSG:4326")
    src = write_raster(str(src_dir / "empty.tif"), np.full((3, 3), np.nan), grid)
    with pytest.raises(QgsProcessingException, match="holds no data"):
        run("bicubic", {"INPUT": src, "OUTPUT": str(tmp_path / "o.tif")})
    assert not (tmp_path / "o.tif").exists()


@pytest.mark.parametrize("pixel", [0, -1.5])
def test_zero_or_negative_pixel_size(airmap_provider, station_layer, tmp_path, pixel):
    assert_fails_cleanly("idw", {"INPUT": station_layer, "FIELD": "value", "PIXEL_SIZE": pixel,
                                 "OUTPUT": str(tmp_path / "o.tif")}, "PIXEL_SIZE", tmp_path)


class CancelAfter(QgsProcessingFeedback):
    """Cancels as soon as the algorithm reports its first progress, i.e. mid-run."""

    def __init__(self):
        super().__init__()
        self.progressChanged.connect(lambda _: self.cancel())


def test_cancel_mid_run_leaves_no_output(airmap_provider, station_layer, tmp_path):
    feedback = CancelAfter()
    assert_fails_cleanly("idw", {"INPUT": station_layer, "FIELD": "value", "PIXEL_SIZE": 0.01,
                                 "OUTPUT": str(tmp_path / "o.tif")}, "Cancelled", tmp_path, feedback=feedback)
    assert 0 < feedback.progress() < 100  # it stopped part-way


def test_output_over_the_input_is_refused(airmap_provider, tmp_path):
    grid = Grid.from_extent(0, 0, 3, 3, 1.0, "EPSG:4326")
    src = write_raster(str(tmp_path / "in.tif"), np.ones((3, 3)), grid)
    before = open(src, "rb").read()
    with pytest.raises(QgsProcessingException, match="one of the inputs"):
        run("bicubic", {"INPUT": src, "OUTPUT": src})
    assert open(src, "rb").read() == before
