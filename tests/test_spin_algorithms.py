"""airmap:spin, airmap:ignnk, airmap:widetolong and airmap:crossvalidateseries inside QGIS
Processing, on one week of the real Beijing AQI-36 network with the UCI wind."""
import csv
import functools

import numpy as np
import pytest
import rasterio
from qgis.core import QgsProcessingException, QgsProcessingFeedback, QgsVectorLayer
from qgis.PyQt.QtCore import QDateTime
from airmap.provider.compat import FIELD_DATETIME

from helpers import SHARED_DATA, make_point_layer, model_output

import processing

BEIJING = SHARED_DATA / "beijing"
WEEK = ("2014-11-03T00:00:00", "2014-11-09T23:00:00")


def run(alg, params, **kw):
    return processing.run(f"airmap:{alg}", params, **kw)


@functools.lru_cache(maxsize=1)
def week_records():
    from airmap.core.timeseries import beijing

    series, _ = beijing.load()
    keep = (series.times >= np.datetime64(WEEK[0])) & (series.times <= np.datetime64(WEEK[1]))
    return series, keep


@pytest.fixture
def pm25_layer(qgis_app):
    """Long format, 36 stations x one week, as QDateTime; hidden stations' features removed."""
    from airmap.core.timeseries import beijing

    series, keep = week_records()
    hidden = beijing.hidden_stations(len(series), 0.25)
    points = []
    for s in np.flatnonzero(~hidden):
        for t in np.flatnonzero(keep):
            value = float(series.values[s, t])
            stamp = QDateTime.fromString(str(series.times[t]), "yyyy-MM-ddTHH:mm:ss")
            points.append((float(series.lon[s]), float(series.lat[s]), str(series.ids[s]), stamp,
                           value if np.isfinite(value) else None))
    return make_point_layer(points, fields=(("station", "string"), ("time", "datetime"), ("pm25", "double")),
                            name="pm25")


@pytest.fixture
def targets_layer(qgis_app):
    from airmap.core.timeseries import beijing

    series, _ = week_records()
    hidden = beijing.hidden_stations(len(series), 0.25)
    return make_point_layer([(float(series.lon[s]), float(series.lat[s]), str(series.ids[s]))
                             for s in np.flatnonzero(hidden)],
                            fields=(("sensor", "string"),), name="targets")


@pytest.fixture
def wind_layer(qgis_app):
    """The UCI stations' hourly wd (compass points) and WSPM for the week, long format."""
    with open(BEIJING / "uci_stations.csv", newline="") as fh:
        sites = {r["station"]: (float(r["lon"]), float(r["lat"])) for r in csv.DictReader(fh)}
    points = []
    with open(BEIJING / "uci_hourly_met_and_pollutants.csv", newline="") as fh:
        for r in csv.DictReader(fh):
            t = r["datetime"].replace(" ", "T")
            if WEEK[0] <= t <= WEEK[1]:
                lon, lat = sites[r["station"]]
                points.append((lon, lat, t, r["wd"], float(r["WSPM"]) if r["WSPM"] else None))
    return make_point_layer(points, fields=(("time", "string"), ("wd", "string"), ("wspm", "double")), name="wind")


def truth_at_targets():
    from airmap.core.timeseries import beijing

    series, keep = week_records()
    hidden = beijing.hidden_stations(len(series), 0.25)
    return {series.ids[s]: series.values[s, keep] for s in np.flatnonzero(hidden)}


def series_params(layer, **extra):
    return dict({"INPUT": layer, "FIELD": "pm25", "TIME_FIELD": "time", "STATION_FIELD": "station"}, **extra)


def collect(layer):
    """{target id: values in time order} and the time field's type."""
    out = {}
    for f in sorted(layer.getFeatures(), key=lambda f: (f["target_id"], f["time"])):
        out.setdefault(f["target_id"], []).append(f["value"] if f["value"] is not None else np.nan)
    return {k: np.array(v, float) for k, v in out.items()}, layer.fields().field("time").type()


@pytest.mark.parametrize("alg", ["spin", "ignnk"])
def test_series_at_targets_play_in_the_temporal_controller(airmap_provider, pm25_layer, targets_layer, wind_layer,
                                                           alg):
    feedback = QgsProcessingFeedback()
    messages = []
    feedback.pushInfo = messages.append
    res = run(alg, series_params(pm25_layer, WIND_INPUT=wind_layer, WIND_TIME_FIELD="time",
                                 WIND_SPEED_FIELD="wspm", WIND_DIRECTION_FIELD="wd",
                                 TARGETS=targets_layer, TARGET_ID_FIELD="sensor", OUTPUT_POINTS="memory:"),
              feedback=feedback)
    layer = res["OUTPUT_POINTS"]
    layer = layer if isinstance(layer, QgsVectorLayer) else QgsVectorLayer(layer)
    values, time_type = collect(layer)
    assert time_type == FIELD_DATETIME
    truth = truth_at_targets()
    assert set(values) == set(truth) and all(v.size == 168 for v in values.values())
    pred = np.concatenate([values[k] for k in truth])
    obs = np.concatenate([truth[k] for k in truth])
    ok = np.isfinite(obs)
    assert np.isfinite(pred).all()
    assert np.corrcoef(pred[ok], obs[ok])[0, 1] > 0.8     # the hidden stations' real series
    if alg == "spin":
        assert any("Wind from 12 wind stations" in m for m in messages)


def test_hourly_raster_has_iso_band_times(airmap_provider, pm25_layer, tmp_path):
    out = str(tmp_path / "spin.tif")
    res = run("spin", series_params(pm25_layer, START=QDateTime.fromString("2014-11-05T00:00:00", "yyyy-MM-ddTHH:mm:ss"),
                                    END=QDateTime.fromString("2014-11-05T05:00:00", "yyyy-MM-ddTHH:mm:ss"),
                                    PIXEL_SIZE=0.05, OUTPUT=out))
    with rasterio.open(res["OUTPUT"]) as ds:
        assert ds.count == 6 and ds.descriptions[0] == "2014-11-05T00:00:00" and ds.descriptions[5] == "2014-11-05T05:00:00"
        data = ds.read(masked=True)
    assert np.isfinite(data).all() and 10 < float(data.mean()) < 1000
    utm = run("spin", series_params(pm25_layer, START=QDateTime.fromString("2014-11-05T00:00:00", "yyyy-MM-ddTHH:mm:ss"),
                                    END=QDateTime.fromString("2014-11-05T01:00:00", "yyyy-MM-ddTHH:mm:ss"),
                                    TARGET_CRS="EPSG:32650", PIXEL_SIZE=5000, OUTPUT=str(tmp_path / "utm.tif")))
    with rasterio.open(utm["OUTPUT"]) as ds:
        assert ds.crs.to_epsg() == 32650 and ds.count == 2 and 400_000 < ds.bounds.left < 500_000
        assert abs(float(ds.read(1, masked=True).mean()) - float(data[0].mean())) < 0.2 * float(data[0].mean())


def test_without_wind_spin_says_it_diffuses_only(airmap_provider, pm25_layer, targets_layer):
    feedback = QgsProcessingFeedback()
    messages = []
    feedback.pushInfo = messages.append
    run("spin", series_params(pm25_layer, TARGETS=targets_layer, OUTPUT_POINTS="memory:",
                              END=QDateTime.fromString("2014-11-03T11:00:00", "yyyy-MM-ddTHH:mm:ss")), feedback=feedback)
    assert any("diffusion kernel only" in m for m in messages)


def test_bad_inputs_are_refused_clearly(airmap_provider, pm25_layer, targets_layer, wind_layer):
    one = make_point_layer([(116.0, 40.0, "a", f"2014-11-01T0{h}:00:00", 10.0 + h) for h in range(5)],
                           fields=(("station", "string"), ("time", "string"), ("pm25", "double")))
    with pytest.raises(QgsProcessingException, match="at least 2"):
        run("spin", series_params(one, TARGETS=targets_layer, OUTPUT_POINTS="memory:"))
    apart = make_point_layer([(116.0, 40.0, "a", f"2014-11-01T0{h}:00:00", 1.0) for h in range(3)] +
                             [(116.1, 40.0, "b", f"2014-11-01T0{h}:00:00", 1.0) for h in range(3, 6)],
                             fields=(("station", "string"), ("time", "string"), ("pm25", "double")))
    with pytest.raises(QgsProcessingException, match="do not overlap"):
        run("ignnk", series_params(apart, TARGETS=targets_layer, OUTPUT_POINTS="memory:"))
    with pytest.raises(QgsProcessingException, match="WIND_SPEED_FIELD and WIND_DIRECTION_FIELD"):
        run("spin", series_params(pm25_layer, TARGETS=targets_layer, OUTPUT_POINTS="memory:",
                                  WIND_INPUT=wind_layer, WIND_TIME_FIELD="time"))
    with pytest.raises(QgsProcessingException, match="Choose an output"):
        run("spin", series_params(pm25_layer))


def test_widetolong_feeds_spin(airmap_provider, tmp_path):
    table = tmp_path / "wide.csv"
    with open(BEIJING / "pm25_hourly.csv") as fh:
        lines = [next(fh) for _ in range(13)]
    table.write_text("".join(lines))
    with open(BEIJING / "stations.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    stations = make_point_layer([(float(r["longitude"]), float(r["latitude"]), r["sensor_id"]) for r in rows[:30]],
                                fields=(("sensor_id", "string"),))
    feedback = QgsProcessingFeedback()
    messages = []
    feedback.pushInfo = messages.append
    res = run("widetolong", {"INPUT": str(table), "STATIONS": stations, "STATION_ID_FIELD": "sensor_id",
                             "VALUE_NAME": "pm25", "OUTPUT": "memory:"}, feedback=feedback)
    layer = res["OUTPUT"]
    feats = list(layer.getFeatures())
    header = lines[0].strip().split(",")
    expected = sum(1 for line in lines[1:] for c, cell in zip(header[1:], line.strip().split(",")[1:])
                   if cell and c in {r["sensor_id"] for r in rows[:30]})
    assert len(feats) == expected and layer.fields().field("time").type() == FIELD_DATETIME
    assert any("6 column(s) have no station" in m for m in messages)
    first = next(f for f in feats if f["station_id"] == "001001")
    assert first["time"].toString("yyyy-MM-dd HH:mm") == "2014-05-01 01:00" and first["pm25"] == 138.0
    out = run("ignnk", {"INPUT": layer, "FIELD": "pm25", "TIME_FIELD": "time", "STATION_FIELD": "station_id",
                        "TARGETS": stations, "OUTPUT_POINTS": "memory:"})["OUTPUT_POINTS"]
    assert out.featureCount() == 30 * 12


def test_crossvalidateseries_scores_every_station(airmap_provider, pm25_layer):
    res = run("crossvalidateseries", series_params(pm25_layer, METHOD=2, FOLDS=3, OUTPUT="memory:",
                                                   METRICS="memory:"))
    assert res["N"] > 1000 and 0 < res["MAE"] < 100 and res["R"] > 0.5
    per_station = list(res["OUTPUT"].getFeatures())
    assert len(per_station) == 27 and {f["fold"] for f in per_station} == {0, 1, 2}


def messages_of(feedback):
    messages = []
    feedback.pushInfo = messages.append
    return messages


def test_wind_as_uv_fields_or_uv_raster_stacks(airmap_provider, pm25_layer, targets_layer, tmp_path):
    from airmap.core.grid import Grid
    from airmap.core.raster_io import write_raster

    hours = [f"2014-11-03T{h:02d}:00:00" for h in range(6)]
    window = dict(END=QDateTime.fromString(hours[-1], "yyyy-MM-ddTHH:mm:ss"), TARGETS=targets_layer,
                  OUTPUT_POINTS="memory:")
    uv = make_point_layer([(116.2 + 0.2 * k, 39.9, t, 3.0, -1.0) for k in range(2) for t in hours],
                          fields=(("time", "string"), ("u", "double"), ("v", "double")))
    feedback = QgsProcessingFeedback()
    messages = messages_of(feedback)
    by_fields = run("spin", series_params(pm25_layer, WIND_INPUT=uv, WIND_TIME_FIELD="time", WIND_U_FIELD="u",
                                          WIND_V_FIELD="v", **window), feedback=feedback)["OUTPUT_POINTS"]
    assert any("2 wind stations (u/v)" in m for m in messages)
    grid = Grid.from_extent(115.0, 39.0, 118.0, 41.5, 0.25, "EPSG:4326")
    paths = []
    for name, value in (("u", 3.0), ("v", -1.0)):
        paths.append(write_raster(str(tmp_path / f"{name}.tif"), np.full((6,) + grid.shape, value, np.float32), grid,
                                  band_names=hours))
    feedback = QgsProcessingFeedback()
    messages = messages_of(feedback)
    by_rasters = run("spin", series_params(pm25_layer, WIND_U_RASTER=paths[0], WIND_V_RASTER=paths[1], **window),
                     feedback=feedback)["OUTPUT_POINTS"]
    assert any("u/v raster stacks" in m for m in messages)
    assert not any("unknown" in m for m in messages)          # every station-hour has raster wind
    a, _ = collect(by_fields)
    b, _ = collect(by_rasters)
    assert a.keys() == b.keys()                                # one uniform wind, two ways: the same series
    np.testing.assert_allclose(np.concatenate(list(a.values())), np.concatenate(list(b.values())), rtol=1e-4)
    with pytest.raises(QgsProcessingException, match="in pairs"):
        run("spin", series_params(pm25_layer, WIND_U_RASTER=paths[0], **window))


def test_a_graphical_model_chains_widetolong_into_spin(airmap_provider, tmp_path):
    from qgis.core import QgsProcessingContext, QgsVectorFileWriter

    from helpers import chain_model

    table = tmp_path / "wide.csv"
    with open(BEIJING / "pm25_hourly.csv") as fh:
        table.write_text("".join(next(fh) for _ in range(7)))
    with open(BEIJING / "stations.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    stations = make_point_layer([(float(r["longitude"]), float(r["latitude"]), r["sensor_id"]) for r in rows],
                                fields=(("sensor_id", "string"),))
    gpkg = str(tmp_path / "stations.gpkg")
    options = QgsVectorFileWriter.SaveVectorOptions()
    options.driverName = "GPKG"
    QgsVectorFileWriter.writeAsVectorFormatV3(stations, gpkg, QgsProcessingContext().transformContext(), options)
    model = chain_model("series to hourly rasters", [
        ("airmap:widetolong", "long", {"INPUT": str(table), "STATIONS": gpkg, "STATION_ID_FIELD": "sensor_id",
                                       "VALUE_NAME": "pm25"}),
        ("airmap:spin", "spin", {"FIELD": "pm25", "TIME_FIELD": "time", "STATION_FIELD": "station_id",
                                 "PIXEL_SIZE": 0.1})], output="hourly")
    hourly = model_output(model, "hourly")
    out = processing.run(model, {"long:OUTPUT": "TEMPORARY_OUTPUT", hourly: str(tmp_path / "hourly.tif")},
                         context=QgsProcessingContext(), feedback=QgsProcessingFeedback())
    with rasterio.open(out[hourly]) as ds:
        assert ds.count == 6 and ds.descriptions[0] == "2014-05-01T01:00:00"
        assert np.isfinite(ds.read(masked=True)).all()


def test_spin_runs_the_diffusion_only_model_without_the_advection_kernel(airmap_provider, pm25_layer, targets_layer,
                                                                         wind_layer):
    """MODEL = the bench's "diffusion only" file: its card switches the advection kernel off (its
    advection weights were never trained), whatever wind is given, and the log says so."""
    from airmap.core.timeseries.infer import shipped_model

    logs = {}
    for name in ("spin.onnx", "spin_diffusion.onnx"):
        feedback = QgsProcessingFeedback()
        logs[name] = messages_of(feedback)
        res = run("spin", series_params(pm25_layer, WIND_INPUT=wind_layer, WIND_TIME_FIELD="time",
                                        WIND_SPEED_FIELD="wspm", WIND_DIRECTION_FIELD="wd", TARGETS=targets_layer,
                                        TARGET_ID_FIELD="sensor", OUTPUT_POINTS="memory:",
                                        MODEL=shipped_model("spin", name)), feedback=feedback)
        layer = res["OUTPUT_POINTS"]
        values, _ = collect(layer if isinstance(layer, QgsVectorLayer) else QgsVectorLayer(layer))
        truth = truth_at_targets()
        pred = np.concatenate([values[k] for k in truth])
        obs = np.concatenate([truth[k] for k in truth])
        ok = np.isfinite(obs)
        assert np.corrcoef(pred[ok], obs[ok])[0, 1] > 0.8
    assert any("diffusion kernel only (its card" in m for m in logs["spin_diffusion.onnx"])
    assert not any("diffusion kernel only (its card" in m for m in logs["spin.onnx"])
