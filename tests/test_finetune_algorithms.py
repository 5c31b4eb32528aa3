"""airmap:finetune* through QGIS Processing on tiny data: each protocol trains a few steps, writes a
model its own algorithm runs, with its lineage in the card and a report; cancel writes nothing;
a model of another family and bad inputs are refused with a message that names the fix."""
import json
import os

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from helpers import make_point_layer, smooth_field  # noqa: E402


def _run(alg, params, feedback=None):
    import processing
    from qgis.core import QgsProcessingContext, QgsProcessingFeedback

    return processing.run(f"airmap:{alg}", params, context=QgsProcessingContext(),
                          feedback=feedback or QgsProcessingFeedback())


def _card(path):
    import onnx

    props = {p.key: p.value for p in onnx.load(path).metadata_props}
    return json.loads(props["airmap"])


def _weights(path):
    import onnx
    from onnx import numpy_helper

    return {i.name: numpy_helper.to_array(i) for i in onnx.load(path).graph.initializer}


def _raster(path, data, pixel=1.0):
    from airmap.core.grid import Grid
    from airmap.core.raster_io import write_raster

    grid = Grid.from_extent(0, 0, data.shape[2] * pixel, data.shape[1] * pixel, pixel, "EPSG:3857")
    write_raster(str(path), data, grid, band_names=[f"2020-01-01T{h:02d}:00:00" for h in range(data.shape[0])])
    return str(path)


def _smooth(rng, shape, sigma=3.0):
    from scipy.ndimage import gaussian_filter

    return gaussian_filter(rng.standard_normal(shape), sigma)


def _dated_stations(days=3, n=120, seed=0, value=None):
    rng = np.random.default_rng(seed)
    rows = []
    for d in range(days):
        x, y = rng.uniform(100, 110, n), rng.uniform(30, 38, n)
        v = smooth_field(x + d, y) if value is None else np.full(n, value)
        rows += [(float(a), float(b), float(c), f"2020-01-{d + 1:02d}") for a, b, c in zip(x, y, v)]
    return make_point_layer(rows, fields=(("pm25", "double"), ("day", "string")))


COMMON = {"MAX_MINUTES": 5, "SEED": 3, "DEVICE": 1, "VALIDATION_FRACTION": 0.2}


def _check_written(out, report, base, family):
    from airmap.models.finetune import sha256

    card = _card(out)
    lineage = card["finetuning"]
    assert card["task"] == family
    assert lineage["base_model"]["sha256"] == sha256(base)
    assert lineage["steps"] > 0 and lineage["threads"] >= 1 and lineage["device"] == "cpu"
    assert set(lineage["validation"]) >= {"before", "after", "metric"}
    assert any(not np.array_equal(a, _weights(base).get(k, a)) for k, a in _weights(out).items()) or \
        lineage["best_epoch"] == 0
    html = open(report).read()
    assert "Learning curve" in html and "before (base model)" in html and "data:image/png" in html
    return card


def test_finetune_abpn_end_to_end(airmap_provider, tmp_path):
    from airmap.core.superres import DEFAULT_ABPN

    rng = np.random.default_rng(0)
    data = np.exp(np.stack([_smooth(rng, (48, 60)) * 3 for _ in range(2)])).astype(np.float32)
    src = _raster(tmp_path / "coarse.tif", data)
    out, report = str(tmp_path / "abpn_mine.onnx"), str(tmp_path / "abpn.html")
    res = _run("finetuneabpn", dict(COMMON, INPUT=src, MAX_STEPS=10, OUTPUT_MODEL=out, OUTPUT_REPORT=report))
    card = _check_written(out, report, DEFAULT_ABPN, "abpn")
    assert res["STEPS"] == 10 and card["finetuning"]["validation"]["after"]["RMSE"] <= res["BEFORE"]
    assert res["AFTER"] < res["BEFORE"]          # 10 steps of self-similarity already help on this field
    fine = _run("abpn", {"INPUT": src, "MODEL": out, "OUTPUT": str(tmp_path / "x3.tif")})
    assert os.path.exists(fine["OUTPUT"])


def test_finetune_xvfi_end_to_end_and_one_band_refused(airmap_provider, tmp_path):
    from qgis.core import QgsProcessingException
    from scipy.ndimage import shift

    from airmap.core.frame_interp import DEFAULT_XVFI

    base = _smooth(np.random.default_rng(1), (40, 40), 4) * 10 + 280
    stack = np.stack([shift(base, (0.7 * t, 0.5 * t), mode="wrap") for t in range(10)]).astype(np.float32)
    src = _raster(tmp_path / "stack.tif", stack)
    out, report = str(tmp_path / "xvfi_mine.onnx"), str(tmp_path / "xvfi.html")
    res = _run("finetunexvfi", dict(COMMON, INPUT=src, MAX_STEPS=6, OUTPUT_MODEL=out, OUTPUT_REPORT=report))
    _check_written(out, report, DEFAULT_XVFI, "xvfi")
    assert res["STEPS"] == 6
    assert os.path.exists(_run("xvfi", {"INPUT": src, "MODEL": out, "OUTPUT": str(tmp_path / "t3.tif")})["OUTPUT"])
    one = _raster(tmp_path / "one.tif", stack[:1])
    with pytest.raises(QgsProcessingException, match="time steps"):
        _run("finetunexvfi", dict(COMMON, INPUT=one, OUTPUT_MODEL=str(tmp_path / "no.onnx")))
    assert not os.path.exists(tmp_path / "no.onnx")


def test_finetune_hfsdf_end_to_end(airmap_provider, tmp_path):
    from airmap.core.hfsdf import DEFAULT_MODEL

    gy, gx = np.mgrid[0:16, 0:20]
    maps = np.stack([10 + 3 * np.sin(gx / 3 + k) + 0.2 * gy for k in range(2)]).astype(np.float32)
    maps[0, 4:8, 5:9] = np.nan          # a gap: left out of the points
    src = _raster(tmp_path / "maps.tif", maps)
    out, report = str(tmp_path / "hfsdf_mine.onnx"), str(tmp_path / "hfsdf.html")
    res = _run("finetunehfsdf", dict(COMMON, INPUT=src, MAX_STEPS=10, OUTPUT_MODEL=out, OUTPUT_REPORT=report))
    card = _check_written(out, report, DEFAULT_MODEL, "hfsdf")
    assert card["finetuning"]["data"]["observations"] == int(np.isfinite(maps).sum())
    assert os.path.exists(_run("hfsdf", {"INPUT": src, "MODEL": out, "OUTPUT": str(tmp_path / "m.tif"),
                                          "ITERATIONS": 3})["OUTPUT"])


def test_finetune_hfsdf_from_dated_station_points(airmap_provider, tmp_path):
    """Station points come as STATIONS (a point layer, never the raster INPUT, so the FIELD
    widget always hangs from a vector parent); one map per DATE_FIELD value."""
    from airmap.core.hfsdf import DEFAULT_MODEL

    out, report = str(tmp_path / "hfsdf_points.onnx"), str(tmp_path / "hfsdf_points.html")
    res = _run("finetunehfsdf", dict(COMMON, STATIONS=_dated_stations(days=2), FIELD="pm25", DATE_FIELD="day",
                                     MAX_STEPS=5, OUTPUT_MODEL=out, OUTPUT_REPORT=report))
    assert res["STEPS"] > 0
    data = _check_written(out, report, DEFAULT_MODEL, "hfsdf")["finetuning"]["data"]
    assert data["stations"] == 240 and (data["first_date"], data["last_date"]) == ("2020-01-01", "2020-01-02")


def test_finetune_pointconv_end_to_end_with_dates(airmap_provider, tmp_path):
    from airmap.core import pointconv as pc

    layer = _dated_stations()
    out, report = str(tmp_path / "pc_mine.onnx"), str(tmp_path / "pc.html")
    res = _run("finetunepointconv", dict(COMMON, INPUT=layer, FIELD="pm25", DATE_FIELD="day", PIXEL_SIZE=0.1,
                                         MAX_STEPS=12, OUTPUT_MODEL=out, OUTPUT_REPORT=report))
    card = _check_written(out, report, pc.default_model_path("pm25"), "pointconv")
    data = card["finetuning"]["data"]
    assert data["days"] == 3 and data["first_date"] == "2020-01-01" and data["last_date"] == "2020-01-03"
    assert data["crs"] == "EPSG:4326" and data["station_values"] == 360
    assert "simulated fields only" not in card["trained_on"]
    curve = card["finetuning"]
    assert curve["steps"] == 12 and res["STEPS"] == 12
    mapped = _run("pointconv", {"INPUT": layer, "FIELD": "pm25", "PIXEL_SIZE": 0.1, "MODEL": out,
                                "RESIDUAL_KRIGING": True, "OUTPUT": str(tmp_path / "pm25.tif")})
    assert os.path.exists(mapped["OUTPUT"])


def test_cancel_writes_nothing(airmap_provider, tmp_path):
    from qgis.core import QgsProcessingException, QgsProcessingFeedback

    class CancelSoon(QgsProcessingFeedback):
        def setProgress(self, value):  # noqa: N802
            super().setProgress(value)
            if value > 0:
                self.cancel()

    rng = np.random.default_rng(0)
    src = _raster(tmp_path / "coarse.tif", np.exp(_smooth(rng, (1, 48, 48))).astype(np.float32))
    out, report = tmp_path / "never.onnx", tmp_path / "never.html"
    with pytest.raises(QgsProcessingException, match="Cancelled"):
        _run("finetuneabpn", dict(COMMON, INPUT=src, OUTPUT_MODEL=str(out), OUTPUT_REPORT=str(report)), CancelSoon())
    assert sorted(os.listdir(tmp_path)) == ["coarse.tif"]


def test_wrong_family_model_is_refused_naming_both(airmap_provider, tmp_path):
    from qgis.core import QgsProcessingException

    from airmap.core.frame_interp import DEFAULT_XVFI

    rng = np.random.default_rng(0)
    src = _raster(tmp_path / "coarse.tif", np.exp(_smooth(rng, (1, 48, 48))).astype(np.float32))
    with pytest.raises(QgsProcessingException, match=r"XVFI model.*fine-tunes ABPN"):
        _run("finetuneabpn", dict(COMMON, INPUT=src, MODEL=DEFAULT_XVFI, OUTPUT_MODEL=str(tmp_path / "x.onnx")))
    assert not os.path.exists(tmp_path / "x.onnx")


@pytest.mark.parametrize("case, message", [
    ("no_values", "NULL or NaN at every station"),
    ("bad_date", "not a date airmap can read"),
    ("too_small", "fewer than 8 cells on a side"),
])
def test_bad_inputs(airmap_provider, tmp_path, case, message):
    from qgis.core import QgsProcessingException

    out = str(tmp_path / "m.onnx")
    if case == "no_values":
        layer = make_point_layer([(100.0 + i, 30.0 + i, None) for i in range(5)], fields=(("pm25", "double"),))
        params = dict(COMMON, INPUT=layer, FIELD="pm25", OUTPUT_MODEL=out)
        alg = "finetunepointconv"
    elif case == "bad_date":
        layer = make_point_layer([(100.0 + i, 30.0 + i % 3, 10.0 + i, "11.04.2017") for i in range(9)],
                                 fields=(("pm25", "double"), ("day", "string")))
        params = dict(COMMON, INPUT=layer, FIELD="pm25", DATE_FIELD="day", OUTPUT_MODEL=out)
        alg = "finetunepointconv"
    else:
        src = _raster(tmp_path / "small.tif", np.ones((1, 12, 12), np.float32))
        params = dict(COMMON, INPUT=src, OUTPUT_MODEL=out)
        alg = "finetuneabpn"
    with pytest.raises(QgsProcessingException, match=message):
        _run(alg, params)
    assert not os.path.exists(out)
