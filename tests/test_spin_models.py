"""SPIN and IGNNK networks: ONNX = torch through the plugin's own inference path, and what the
advection kernel buys on a plume carried by a steady wind."""
import re

import numpy as np
import pytest

from airmap.core.timeseries import graphs, methods
from airmap.core.timeseries.series import StationSeries
from airmap.core.timeseries.wind import Wind


def fake_checkpoint(config, graph, window, kind="window_mean"):
    from airmap.core.timeseries.normalise import series_normalisation

    return {"config": config, "graph": graph, "window": window, "normalisation": series_normalisation(kind, 100.0),
            "training": {"data": "random weights (test)", "seed": 0, "command": "test", "budget": "none"}}


def random_nodes(n, t, seed=3):
    rng = np.random.default_rng(seed)
    lon = 116.3 + rng.normal(0, 0.15, n)
    lat = 39.9 + rng.normal(0, 0.1, n)
    values = rng.gamma(3.0, 30.0, (n, t))
    values[rng.random((n, t)) < 0.3] = np.nan
    u, v = rng.normal(0, 3, (2, n, t))
    return lon, lat, values, u, v


@pytest.mark.parametrize("variant", ["spin", "spin with narrower supports", "ignnk"])
def test_onnx_matches_torch_on_another_graph_size(variant, tmp_path):
    torch = pytest.importorskip("torch")
    from airmap.core.timeseries.infer import load_series_model
    from airmap.models.series_export import export_checked, series_card

    torch.manual_seed(0)
    task = variant.split()[0]
    if task == "spin":
        from airmap.models.spin.export import INPUTS, check_inputs
        from airmap.models.spin.net import SPIN

        narrower = {"sharpen": [4.0, 16.0], "sharpen_layers": True} if "narrower" in variant else {}
        ckpt = fake_checkpoint(dict({"channels": 8, "dilations": [1, 2], "layers": 2}, **narrower),
                               {"sigma_km": 10.0, "cutoff_km": 30.0}, {"length": 48, "keep": 24})
        model = SPIN(**ckpt["config"]).eval()
        axes = {k: {1: "a", 2: "b"} for k in ("value", "observed", "wind", "estimate")}
        axes.update({k: {1: "a", 2: "b", 3: "c"} for k in ("a_diff", "a_adv")})
    else:
        from airmap.models.ignnk.export import INPUTS, check_inputs
        from airmap.models.ignnk.net import IGNNK

        ckpt = fake_checkpoint({"window": 24, "hidden": 16}, {"sigma_scale": 1.0}, {"length": 24, "keep": 12}, "scale")
        model = IGNNK(**ckpt["config"]).eval()
        axes = {"x": {1: "n"}, "a": {1: "n", 2: "m"}, "estimate": {1: "n"}}
    path = str(tmp_path / f"{task}.onnx")
    card = series_card(ckpt, model, task, task, INPUTS)
    diff = export_checked(model, path, card, check_inputs(ckpt), ["estimate"], axes)
    assert diff < 1e-4
    loaded = load_series_model(task, path, device="cpu")
    n, t = 21, 24 if task == "ignnk" else 37          # not the export example's 13 nodes / 30 hours
    lon, lat, values, u, v = random_nodes(n, t)
    got = loaded.predict(lon, lat, values, u, v)
    from airmap.core.timeseries.normalise import window_divisor

    observed = np.isfinite(values)
    scale = window_divisor(ckpt["normalisation"], values)
    z = torch.from_numpy(np.where(observed, values / scale, 0).astype(np.float32))[None]
    with torch.no_grad():
        if task == "spin":
            a_diff, a_adv = graphs.spin_supports(lon, lat, observed, u, v, 10.0, 30.0)
            ref = model(z, torch.from_numpy(observed.astype(np.float32))[None],
                        torch.from_numpy(np.stack([u, v], -1).astype(np.float32))[None],
                        torch.from_numpy(a_diff)[None], torch.from_numpy(a_adv)[None])[0].numpy()
        else:
            sigma = graphs.ignnk_sigma(lon, lat, observed.any(axis=1))
            a = graphs.ignnk_support(lon, lat, observed.any(axis=1), sigma)
            ref = model(z, torch.from_numpy(a)[None])[0].numpy()
    assert got.shape == (n, t)
    assert np.abs(got - ref * scale).max() < 1e-3 * scale


def plume(hours=240, seed=5):
    """Stations on a 5 x 5 lattice 6 km apart; a plume from a source west of it is carried east by
    a steady 4 m/s west wind: its strength varies in time and arrives at each column later."""
    rng = np.random.default_rng(seed)
    ix, iy = np.meshgrid(np.arange(5), np.arange(5))
    x_km, y_km = ix.ravel() * 6.0, (iy.ravel() - 2) * 6.0
    lat = 39.9 + y_km / 111.2
    lon = 116.0 + x_km / (111.2 * np.cos(np.deg2rad(39.9)))
    emission = np.convolve(rng.gamma(1.0, 1.0, hours + 40), np.ones(4) / 4, "same")
    speed_km_h = 4.0 * 3.6
    lag = ((x_km + 10.0) / speed_km_h).round().astype(int)       # hours from the source
    strength = np.stack([emission[40 - l:40 - l + hours] for l in lag])
    across = np.exp(-(y_km / 12.0) ** 2)[:, None]
    values = 30.0 + 150.0 * across * strength / (1 + 0.03 * x_km[:, None])
    wind = Wind(np.full(values.shape, 4.0), np.zeros(values.shape), "steady west wind")
    series = StationSeries(np.array([f"s{i}" for i in range(25)]), lon, lat,
                           np.datetime64("2020-01-01T00") + np.arange(hours).astype("timedelta64[h]"),
                           values.astype(np.float32))
    return series, wind


def test_the_advection_kernel_carries_the_plume_downwind():
    """Kernel level: on the plume axis, the upwind-weighted mean of the other stations is closer
    to the hidden station's series than the isotropic (diffusion) mean."""
    series, wind = plume()
    hidden = 13                                  # on the plume axis, east of the centre
    observed = np.isfinite(series.values)
    observed[hidden] = False
    values = np.where(observed, series.values, 0.0)
    dx, dy, d = graphs.pair_offsets(series.lon, series.lat)
    kernel = graphs.gaussian_kernel(d, 10.0, 30.0)
    diff = graphs.diffusion_supports(kernel, observed)
    adv = graphs.advection_supports(kernel, dx, dy, d, wind.u, wind.v, observed)
    by_diffusion = np.einsum("tj,jt->t", diff[:, hidden], values)
    weights = adv[:, hidden]
    by_advection = np.einsum("tj,jt->t", weights, values) / weights.sum(axis=1)
    truth = series.values[hidden]
    assert np.abs(by_advection - truth).mean() < 0.7 * np.abs(by_diffusion - truth).mean()


def test_spin_infers_a_hidden_station_on_the_plume_better_with_advection():
    """The shipped SPIN with and without its advection kernel, on the same plume."""
    pytest.importorskip("onnxruntime")
    series, wind = plume()
    hidden = np.zeros(len(series), bool)
    hidden[[12, 13]] = True                     # two stations on the axis
    from airmap.core.timeseries.crossval import infer_hidden

    errors = {}
    for method in ("spin", "spin_diffusion"):
        pred = infer_hidden(method, series, wind, hidden, device="cpu")
        errors[method] = np.abs(pred - series.values[hidden]).mean()
    assert errors["spin"] < errors["spin_diffusion"]
    assert methods.METHODS["spin_diffusion"].advection is False


def test_aod_gradient_term_is_zero_only_when_gradients_follow_the_aod():
    torch = pytest.importorskip("torch")
    from airmap.models.spin.losses import aod_gradient_loss, spin_loss

    aod = torch.tensor([[[0.1, 0.2], [0.3, 0.5], [0.6, 0.4]]])            # (1, 3 nodes, 2 hours)
    near = torch.ones(1, 3, 3)
    follows = 40.0 + 100.0 * aod                                           # same shape, other units
    against = 40.0 - 100.0 * aod
    assert float(aod_gradient_loss(follows, aod, near)) < 1e-4
    assert float(aod_gradient_loss(against, aod, near)) > 0.5
    gap = aod.clone()
    gap[0, 2] = float("nan")                                               # no AOD there: pairs with it skipped
    assert float(aod_gradient_loss(follows, gap, near)) < 1e-4
    truth = torch.zeros(1, 3, 2)
    hidden = torch.tensor([[[1.0, 1.0], [0.0, 0.0], [0.0, 0.0]]])
    base = spin_loss(truth + 1, truth + 1, truth, hidden)
    assert float(spin_loss(truth + 1, truth + 1, truth, hidden, aod=aod, neighbours=near)) > float(base)


def test_spin_fine_tunes_with_an_aod_stack_as_a_loss_term_only(tmp_path):
    torch = pytest.importorskip("torch")
    from airmap.core.grid import Grid
    from airmap.core.raster_io import write_raster
    from airmap.models.node_masking import training_data
    from airmap.models.spin import train

    times = training_data().times
    grid = Grid.from_extent(115.5, 39.3, 117.5, 41.1, 0.5, "EPSG:4326")
    x, _ = grid.cell_centres()
    stack = np.broadcast_to((0.2 + 0.1 * (x - 115.5))[None], (times.size,) + grid.shape).astype(np.float32)
    aod = write_raster(str(tmp_path / "aod.tif"), stack, grid, band_names=[str(t) for t in times])
    train.main(["--out", str(tmp_path / "a"), "--steps", "2", "--batch", "2", "--channels", "8"])
    base = str(tmp_path / "a" / "spin.pt")
    train.main(["--out", str(tmp_path / "b"), "--steps", "2", "--batch", "2", "--channels", "8", "--init", base,
                "--aod", aod])
    ckpt = torch.load(str(tmp_path / "b" / "spin.pt"), weights_only=True)
    assert "AOD gradient term" in ckpt["training"]["loss"]
    assert "--init" in ckpt["training"]["command"]
    log = (tmp_path / "b" / "log.txt").read_text()
    assert "initialised from" in log and "100.0 % of station-hours have AOD" in log


def test_selection_runs_see_neither_the_bench_months_nor_its_stations():
    """Settings are chosen on October (training stations only) after training on May .. September."""
    from airmap.core.timeseries import beijing
    from airmap.models.node_masking import training_data
    from airmap.models.series_validation import validation_data

    fit = training_data(until="2014-10-01")
    series, wind = validation_data("2014-10-01")
    assert fit.times[-1] < np.datetime64("2014-10-01") <= series.times[0]
    assert series.times[-1] < beijing.TEST_START
    everyone = beijing.load_pm25()
    bench_hidden = set(everyone.ids[beijing.hidden_stations(len(everyone), beijing.TRAINING_EXCLUDES)])
    assert set(series.ids) == set(fit.ids) and not bench_hidden & set(series.ids)
    assert wind.u.shape == series.values.shape


def test_scenario_training_leaves_out_only_that_scenarios_hidden_stations():
    """--exclude-share 0.25: the 27 stations outside the bench's 25 % set, a superset of the
    shipped models' 18; the 25 % set itself never enters."""
    from airmap.core.timeseries import beijing
    from airmap.models.node_masking import training_data

    shipped, scenario = training_data(), training_data(exclude_share=0.25)
    everyone = beijing.load_pm25()
    quarter = set(everyone.ids[beijing.hidden_stations(len(everyone), 0.25)])
    assert len(shipped.ids) == 18 and len(scenario.ids) == 27
    assert set(shipped.ids) < set(scenario.ids) and not quarter & set(scenario.ids)
    assert "25 % hidden" in scenario.describe() and "50 % hidden" in shipped.describe()
    assert np.array_equal(scenario.times, shipped.times)


def test_whole_record_training_adds_the_scored_months_at_the_visible_stations_only():
    from airmap.core.timeseries import beijing
    from airmap.models.node_masking import training_data

    months, whole = training_data(exclude_share=0.25), training_data(exclude_share=0.25, all_months=True)
    everyone = beijing.load_pm25()
    assert np.array_equal(whole.ids, months.ids)
    assert whole.times[-1] == everyone.times[-1] and months.times[-1] < beijing.TEST_START <= whole.times[-1]
    assert np.array_equal(whole.times[:months.times.size], months.times)
    assert whole.values.shape == (27, everyone.times.size)


def test_scenario_recipe_is_the_shipped_command_plus_the_exclusion():
    pytest.importorskip("torch")   # bench/spin_scenario reads commands through models/series_ensemble
    from airmap.bench.spin_scenario import member_flags
    from airmap.models.series_ensemble import _flags

    shipped = ("PYTHONPATH=.pkg OMP_NUM_THREADS=1 .venv/bin/python -m airmap.models.spin.train --seed 2 "
               "--steps 3000 --sharpen 4,16 --out <dir>")
    flags = member_flags(shipped)
    assert flags[-2:] == ["--exclude-share", "0.25"] and "--out" not in flags
    assert _flags(" ".join(flags)) == dict(_flags(shipped.replace(" --out <dir>", "")), **{"--exclude-share": "0.25"})
    with pytest.raises(ValueError):
        member_flags(shipped.replace("--out", "--exclude-share 0.5 --out"))
    whole = member_flags(shipped, 0.5, all_months=True)
    assert whole[-3:] == ["--exclude-share", "0.5", "--all-months"]


def test_ignnk_can_divide_each_window_by_its_observed_mean():
    torch = pytest.importorskip("torch")
    from airmap.models import node_masking
    from airmap.models.ignnk.train import batch

    data = node_masking.training_data()
    x = {kind: batch(data, np.random.default_rng(4), 24, 1, node_masking.normalisation_card(kind))[0].numpy()
         for kind in ("scale", "window_mean")}
    seen = x["scale"] != 0
    ratio = x["scale"][seen] / x["window_mean"][seen]
    assert np.allclose(ratio, ratio[0], rtol=1e-5)                     # one divisor per window
    assert x["window_mean"][seen].mean() == pytest.approx(1.0, rel=1e-4)  # = the observed mean
    assert not np.allclose(x["scale"][seen].mean(), 1.0, rtol=1e-2)


def test_diffusion_only_row_is_a_spin_trained_without_the_advection_kernel():
    pytest.importorskip("onnxruntime")
    from airmap.core.timeseries.infer import load_series_model, shipped_model

    entry = methods.METHODS["spin_diffusion"]
    card = load_series_model("spin", shipped_model("spin", entry.file), device="cpu").card
    shipped = load_series_model("spin", device="cpu").card
    assert card["training"]["masking"]["advection_share"] == 0
    assert shipped["training"]["masking"]["advection_share"] > 0
    assert card["graph"]["advection"] is False and shipped["graph"]["advection"] is True
    assert load_series_model("spin", shipped_model("spin", entry.file), device="cpu").advection is False

    def recipe(c):  # the training commands with the advection share blanked: the same recipe
        commands = c["training"]["command"]
        return [re.sub(r"--advection-share [0-9.]+", "", x) for x in np.atleast_1d(commands)]

    assert recipe(card) == recipe(shipped)
    assert {k: v for k, v in card["graph"].items() if k != "advection"} == \
        {k: v for k, v in shipped["graph"].items() if k != "advection"}
    assert card["config"] == shipped["config"] and card["normalisation"] == shipped["normalisation"]


def test_a_sharpened_support_is_the_narrower_gaussian():
    """SPIN's extra spread features (--sharpen p) use the support's own power: sigma / sqrt(p)
    over the same senders, so no extra ONNX input is needed."""
    torch = pytest.importorskip("torch")
    from airmap.models.spin.net import sharpened

    lon, lat, values, u, v = random_nodes(12, 6)
    observed = np.isfinite(values)
    wide, _ = graphs.spin_supports(lon, lat, observed, u, v, 20.0, 60.0, advection=False)
    narrow, _ = graphs.spin_supports(lon, lat, observed, u, v, 10.0, 60.0, advection=False)
    got = sharpened(torch.from_numpy(wide), 4.0).numpy()
    assert np.abs(got - narrow).max() < 1e-5
    assert np.abs(wide - narrow).max() > 0.05


def test_training_masks_the_share_of_nodes_asked_for():
    pytest.importorskip("torch")
    from airmap.models import node_masking
    from airmap.models.spin.train import batch

    data = node_masking.training_data()
    hidden = batch(data, np.random.default_rng(2), 48, 6, node_masking.normalisation_card("window_mean"),
                   mask_share=(0.5, 0.5))[6].numpy()[:, :, 0]
    nodes = hidden.shape[1]
    assert (hidden.sum(axis=1) == round(0.5 * nodes)).all()
