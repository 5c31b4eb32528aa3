"""airmap:finetunespin: SPIN's node-masking game on the user's own series. Weights read back from
the shipped files (written without a weight map) equal the files; a few steps on a plume write a
model airmap:spin runs, with its lineage; same seed, same weights; bad inputs are refused."""
import json
import os

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from helpers import make_point_layer  # noqa: E402
from test_spin_models import plume  # noqa: E402


def _card(path):
    import onnx

    return json.loads({p.key: p.value for p in onnx.load(path).metadata_props}["airmap"])


def _options(base=None, **kw):
    from airmap.core.timeseries.infer import shipped_model
    from airmap.models.finetune import FinetuneOptions

    return FinetuneOptions(base or shipped_model("spin"), **dict(dict(minutes=5.0, seed=1, max_steps=6), **kw))


@pytest.mark.parametrize("name", ["spin.onnx", "spin_diffusion.onnx"])
def test_shipped_weights_read_back_through_the_twin_equal_the_file(name):
    """The shipped SPIN files carry no weight map; the twin export recovers every weight (the
    loader itself raises if the torch network and the file disagree, checked here again)."""
    from airmap.core.timeseries.infer import load_series_model, shipped_model
    from airmap.models.spin.export import check_inputs
    from airmap.models.spin.finetune import TorchRunner, load_torch

    path = shipped_model("spin", name)
    card, net = load_torch(path)
    check = check_inputs({"graph": card["graph"]}, nodes=17, hours=40, seed=4)
    expected = load_series_model("spin", path, "cpu").onnx.run(check)[0]
    np.testing.assert_allclose(TorchRunner(net).run(check)[0], expected, rtol=1e-4, atol=1e-5)
    assert sum(p.numel() for p in net.parameters()) == card["parameters"]


def test_a_few_steps_on_a_plume_write_a_model_with_its_lineage(tmp_path):
    from airmap.core.timeseries import methods
    from airmap.models.finetune import sha256
    from airmap.models.spin.finetune import finetune

    series, wind = plume(hours=120)
    options = _options()
    out = str(tmp_path / "mine.onnx")
    result = finetune(series, wind, out, options, summary={"input": "plume"})
    card = _card(out)
    lineage = card["finetuning"]
    assert card["task"] == "spin" and lineage["algorithm"] == "finetunespin"
    assert lineage["base_model"]["sha256"] == sha256(options.base_model)
    assert lineage["steps"] == 6 and lineage["seed"] == 1 and lineage["device"] == "cpu"
    assert lineage["data"]["stations"] == 25 and lineage["data"]["training_stations"] == 20
    assert len(lineage["data"]["held_back_stations"]) == 5 and lineage["data"]["input"] == "plume"
    assert result.before["N"] > 0 and np.isfinite(result.after["MAE"])
    assert result.after["MAE"] <= result.before["MAE"]    # the best epoch, or the base when none beat it
    assert [p["step"] for p in result.curve][0] == 0 and len(result.curve) >= 2
    assert "selection" not in card and card["metrics"]["onnx_vs_torch_max_abs"] < 1e-3
    # the written file is a SPIN model airmap:spin's path runs, and it reads back without the twin
    hidden = np.arange(25) >= 20
    targets, visible = series.subset(hidden), series.subset(~hidden)
    wind_of = lambda keep: type(wind)(wind.u[keep], wind.v[keep], wind.source)  # noqa: E731
    estimate = methods.predict("spin", visible, wind_of(~hidden), targets.lon, targets.lat, wind_of(hidden),
                               model_path=out, device="cpu")
    assert estimate.shape == targets.values.shape and np.isfinite(estimate).all()
    import onnx

    from airmap.models.onnx_weights import WEIGHTS_KEY
    assert WEIGHTS_KEY in {p.key for p in onnx.load(out).metadata_props}


def test_the_game_teaches_what_inference_is_scored_on():
    """On the plume (which the Beijing model never saw), the protocol's training step lowers the
    error at a held-back column of stations inferred through the plugin's path: the game and the
    held-back check measure the same thing."""
    from airmap.core.timeseries.infer import shipped_model
    from airmap.models.spin.finetune import game_loss, held_back, load_torch, training_table

    torch.manual_seed(0)
    series, wind = plume(hours=240)
    card, net = load_torch(shipped_model("spin"))
    column = np.arange(25) % 5 == 2          # the middle column of the 5 x 5 lattice
    data, held = training_table(series, wind, ~column), training_table(series, wind, column)
    before = held_back(net, card, data, held)["MAE"]
    rng = np.random.default_rng(0)
    optimiser = torch.optim.Adam(net.parameters(), lr=1e-4)
    for _ in range(150):
        net.train()
        loss = game_loss(net, card, data, rng, torch.device("cpu"))
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
    after = held_back(net, card, data, held)["MAE"]
    assert after < 0.75 * before, (before, after)


def test_training_moves_the_weights_and_the_same_seed_repeats_them(tmp_path):
    from airmap.models.spin.finetune import finetune, load_torch

    series, wind = plume(hours=120)
    runs = []
    for name in ("a", "b"):
        res = finetune(series, wind, str(tmp_path / f"{name}.onnx"), _options(validation_fraction=0.2))
        runs.append(res)
    (_, first), (_, second) = load_torch(str(tmp_path / "a.onnx")), load_torch(str(tmp_path / "b.onnx"))
    for (k, a), b in zip(first.state_dict().items(), second.state_dict().values()):
        assert torch.equal(a, b), k
    assert [p["train_loss"] for p in runs[0].curve] == [p["train_loss"] for p in runs[1].curve]
    # the optimiser did change the network it trained (whichever epoch was kept at the end)
    assert runs[0].curve[-1]["validation"] != runs[0].curve[0]["validation"]


@pytest.mark.parametrize("case, message", [
    ("three_stations", "at least 4 stations"),
    ("short", "longer than its 48-step window"),
    ("no_holdout", "hold back at least one station"),
    ("gappy", "never measured more than half"),
])
def test_bad_series_are_refused_with_the_fix(tmp_path, case, message):
    from airmap.core.errors import AirmapInputError
    from airmap.models.spin.finetune import finetune

    series, wind = plume(hours=120)
    options = _options()
    if case == "three_stations":
        keep = np.arange(25) < 3
        series, wind = series.subset(keep), type(wind)(wind.u[keep], wind.v[keep], wind.source)
    elif case == "short":
        series = series.between(series.times[0], series.times[40])
        wind = type(wind)(wind.u[:, :41], wind.v[:, :41], wind.source)
    elif case == "no_holdout":
        options = _options(validation_fraction=0.0)
    else:
        series.values[:, np.arange(120) % 3 != 0] = np.nan
    out = tmp_path / "never.onnx"
    with pytest.raises(AirmapInputError, match=message):
        finetune(series, wind, str(out), options)
    assert not out.exists()


def _long_layer(series):
    from qgis.PyQt.QtCore import QDateTime

    rows = []
    for s in range(len(series)):
        for t in range(series.times.size):
            text = np.datetime_as_string(series.times[t], unit="s")
            rows.append((float(series.lon[s]), float(series.lat[s]), str(series.ids[s]),
                         QDateTime.fromString(text, "yyyy-MM-ddTHH:mm:ss"), float(series.values[s, t])))
    return make_point_layer(rows, fields=(("station", "string"), ("time", "datetime"), ("pm25", "double")))


def test_finetunespin_in_processing_writes_model_and_report_and_refuses_other_families(airmap_provider, tmp_path):
    import processing
    from qgis.core import QgsProcessingException

    from airmap.core.frame_interp import DEFAULT_XVFI

    series, _ = plume(hours=100)
    layer = _long_layer(series)
    params = {"INPUT": layer, "FIELD": "pm25", "TIME_FIELD": "time", "STATION_FIELD": "station", "MAX_MINUTES": 5,
              "SEED": 2, "MAX_STEPS": 4, "VALIDATION_FRACTION": 0.2}
    out, report = tmp_path / "spin_mine.onnx", tmp_path / "spin.html"
    res = processing.run("airmap:finetunespin", dict(params, OUTPUT_MODEL=str(out), OUTPUT_REPORT=str(report)))
    assert res["OUTPUT_MODEL"] == str(out) and res["STEPS"] == 4 and res["AFTER"] <= res["BEFORE"]
    card = _card(str(out))
    assert card["finetuning"]["data"]["wind"].startswith("none") and card["finetuning"]["data"]["hours"] == 100
    html = report.read_text()
    assert "Learning curve" in html and "MAE" in html
    mapped = processing.run("airmap:spin", {"INPUT": layer, "FIELD": "pm25", "TIME_FIELD": "time",
                                            "STATION_FIELD": "station", "MODEL": str(out), "PIXEL_SIZE": 0.05,
                                            "OUTPUT": str(tmp_path / "hourly.tif")})
    assert os.path.exists(mapped["OUTPUT"])
    with pytest.raises(QgsProcessingException, match=r"XVFI model.*fine-tunes SPIN"):
        processing.run("airmap:finetunespin", dict(params, MODEL=DEFAULT_XVFI, OUTPUT_MODEL=str(tmp_path / "x.onnx")))
    assert not (tmp_path / "x.onnx").exists()
