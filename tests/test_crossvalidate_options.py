"""airmap:crossvalidate with the optional inputs of model-based methods (DEM / URBAN rasters,
RH / WIND station layers, MODEL), and the core plumbing behind it (core.crossval options)."""
import numpy as np
import pytest
from qgis.core import QgsProcessingException, QgsProcessingFeedback

from airmap.core import pointconv as pc
from airmap.core.crossval import assign_folds, cross_validate
from airmap.core.grid import Grid
from airmap.core.raster_io import write_raster
from airmap.core.station_methods import method_keys
from airmap.core.stations import Stations
from helpers import make_point_layer, smooth_field_stations, station_layer_from

import processing

POINTCONV = method_keys().index("pointconv")
IDW = method_keys().index("idw")


@pytest.fixture(scope="module")
def stations():
    """150 stations on the smooth field over lon 100-110, lat 30-38 (EPSG:4326)."""
    return smooth_field_stations()


@pytest.fixture
def layer(stations):
    return station_layer_from(*stations)


@pytest.fixture
def met_layer(stations):
    x, y, _ = stations
    rng = np.random.default_rng(4)
    return make_point_layer([(float(a) + 0.03, float(b), float(r), float(w))
                             for a, b, r, w in zip(x[:80], y[:80], 40 + 40 * rng.random(80), 1 + 4 * rng.random(80))],
                            fields=(("rh", "double"), ("ws", "double")), name="met")


@pytest.fixture
def dem(tmp_path):
    """A terrain ramp from 0 m in the west to 3,000 m in the east (enough for the model to react)."""
    grid = Grid.from_extent(99, 29, 111, 39, 0.25, "EPSG:4326")
    path = str(tmp_path / "dem.tif")
    write_raster(path, np.tile(np.linspace(0, 3000, grid.width), (grid.height, 1)), grid)
    return path


def crossvalidate(params):
    """Run airmap:crossvalidate; returns (result, held-out predictions by feature id, log lines)."""
    feedback = QgsProcessingFeedback()
    messages = []
    feedback.pushInfo = messages.append
    base = {"FIELD": "value", "FOLDS": 5, "PIXEL_SIZE": 0.1, "OUTPUT": "TEMPORARY_OUTPUT",
            "METRICS": "TEMPORARY_OUTPUT"}
    res = processing.run("airmap:crossvalidate", dict(base, **params), feedback=feedback)
    predicted = {f.id(): f["predicted"] for f in res["OUTPUT"].getFeatures()}
    return res, np.array([predicted[k] for k in sorted(predicted)]), messages


def test_pointconv_crossvalidation_uses_the_dem(airmap_provider, layer, dem):
    _, plain, plain_log = crossvalidate({"INPUT": layer, "METHOD": POINTCONV})
    res, with_dem, dem_log = crossvalidate({"INPUT": layer, "METHOD": POINTCONV, "DEM": dem})
    assert res["N"] == 150 and np.isfinite(with_dem).all()
    # The DEM reaches the model: its run no longer says the DEM is missing, and predictions move.
    assert any("No DEM or urban fraction given" in m for m in plain_log)
    assert any("No urban fraction given" in m for m in dem_log)
    assert not any("No DEM" in m for m in dem_log)
    assert np.abs(with_dem - plain).max() > 0.5
    assert not any("ignored" in m for m in dem_log)


def test_idw_ignores_the_dem_and_model_and_says_so(airmap_provider, layer, dem, tmp_path):
    _, plain, _ = crossvalidate({"INPUT": layer, "METHOD": IDW})
    _, with_dem, log = crossvalidate({"INPUT": layer, "METHOD": IDW, "DEM": dem,
                                      "MODEL": str(tmp_path / "not_used.onnx")})
    np.testing.assert_array_equal(with_dem, plain)
    note = [m for m in log if "ignored" in m]
    assert len(note) == 1 and "IDW does not use" in note[0]
    assert "DEM" in note[0] and "MODEL" in note[0]


def test_bad_model_is_a_clear_error_and_leaves_no_output(airmap_provider, layer, tmp_path):
    out, metrics = tmp_path / "cv.gpkg", tmp_path / "metrics.csv"
    params = {"INPUT": layer, "FIELD": "value", "METHOD": POINTCONV, "FOLDS": 5, "PIXEL_SIZE": 0.1,
              "OUTPUT": str(out), "METRICS": str(metrics)}
    with pytest.raises(QgsProcessingException, match="does not exist"):
        processing.run("airmap:crossvalidate", dict(params, MODEL=str(tmp_path / "missing.onnx")))
    junk = tmp_path / "junk.onnx"
    junk.write_bytes(b"not an onnx model")
    with pytest.raises(QgsProcessingException, match="corrupt or not ONNX"):
        processing.run("airmap:crossvalidate", dict(params, MODEL=str(junk)))
    # A real model of the wrong kind for the inputs: the met model without met layers.
    with pytest.raises(QgsProcessingException, match="meteorological PointConv model"):
        processing.run("airmap:crossvalidate", dict(params, MODEL=pc.default_model_path("met")))
    assert not out.exists() and not metrics.exists()


def test_met_layers_pick_the_met_model(airmap_provider, layer, met_layer):
    _, plain, plain_log = crossvalidate({"INPUT": layer, "METHOD": POINTCONV})
    res, met, log = crossvalidate({"INPUT": layer, "METHOD": POINTCONV, "RH_INPUT": met_layer, "RH_FIELD": "rh",
                                   "WIND_INPUT": met_layer, "WIND_FIELD": "ws"})
    assert any("PM2.5-stations-only model" in m for m in plain_log)
    assert any("relative-humidity and wind-speed stations" in m for m in log)
    assert res["N"] == 150 and np.isfinite(met).all() and np.abs(met - plain).max() > 0.1
    # An explicit MODEL is used as given: the PM2.5-only model with met layers says it ignores them.
    _, _, log = crossvalidate({"INPUT": layer, "METHOD": POINTCONV, "RH_INPUT": met_layer, "RH_FIELD": "rh",
                               "WIND_INPUT": met_layer, "WIND_FIELD": "ws", "MODEL": pc.default_model_path("pm25")})
    assert any("meteorological stations are ignored" in m for m in log)


def test_core_folds_only_the_validated_stations(monkeypatch):
    """Every fold gets the whole met networks and the same covariates; only PM2.5 stations are held out."""
    rng = np.random.default_rng(0)
    pm25 = Stations(rng.uniform(0, 10, 40), rng.uniform(0, 10, 40), rng.uniform(10, 50, 40))
    met = {"rh": Stations(rng.uniform(0, 10, 25), rng.uniform(0, 10, 25), rng.uniform(30, 90, 25)),
           "wind_speed": Stations(rng.uniform(0, 10, 25), rng.uniform(0, 10, 25), rng.uniform(1, 5, 25))}
    dem = np.ones((10, 10))
    calls = []

    def spy(stations, grid, *, covariates=None, met_stations=None, model_path=None, progress=None, **options):
        calls.append((len(stations), {k: len(v) for k, v in met_stations.items()}, covariates["dem"] is dem,
                      model_path, options))
        progress.info("spy ran")
        return np.full(grid.shape, 7.0)

    monkeypatch.setattr(pc, "pointconv_grid", spy)
    grid = Grid.from_extent(0, 0, 10, 10, 1.0, None)
    cv = cross_validate(pm25, "pointconv", folds=4, seed=3, grid=grid,
                        options={"covariates": {"dem": dem, "urban": None}, "met_stations": met,
                                 "model_path": "mine.onnx", "threads": 1})
    held_out = np.bincount(assign_folds(40, 4, 3), minlength=4)
    assert [c[0] for c in calls] == list(40 - held_out)
    assert all(c[1] == {"rh": 25, "wind_speed": 25} and c[2] and c[3] == "mine.onnx" and c[4] == {"threads": 1}
               for c in calls)
    assert np.all(cv.predicted == 7.0)
    assert cv.notes == ["spy ran"]  # the method's messages of the first fold only, no "ignored" note
