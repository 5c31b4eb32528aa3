"""Seed ensembles of the series networks (one ONNX graph averaging the members) and the card's
advection flag (a SPIN trained with the diffusion kernel only is never fed the wind's kernel)."""
import numpy as np
import pytest

from test_spin_models import fake_checkpoint, random_nodes

SPIN_CONFIG = {"channels": 8, "dilations": [1, 2], "layers": 2}
SPIN_AXES = dict({k: {1: "a", 2: "b"} for k in ("value", "observed", "wind", "estimate")},
                 **{k: {1: "a", 2: "b", 3: "c"} for k in ("a_diff", "a_adv")})


def member(torch, tmp_path, seed, config=SPIN_CONFIG, graph=None):
    """A SPIN run's checkpoint (random weights of ``seed``) as train.py writes it."""
    from airmap.models.spin.net import SPIN

    torch.manual_seed(seed)
    ckpt = fake_checkpoint(dict(config), dict(graph or {"sigma_km": 10.0, "cutoff_km": 30.0, "advection": True}),
                           {"length": 48, "keep": 24})
    ckpt["training"].update(seed=seed, command=f"train --seed {seed} --steps 5 --out <dir>",
                            budget="5 steps x batch 1 windows of 48 h, Adam lr 0.001 cosine, 0.1 min on 1 CPU thread")
    ckpt["state_dict"] = SPIN(**config).state_dict()
    path = str(tmp_path / f"m{seed}.pt")
    torch.save(ckpt, path)
    return path


def test_ensemble_onnx_is_the_mean_of_its_members(tmp_path):
    torch = pytest.importorskip("torch")
    pytest.importorskip("onnxruntime")
    from airmap.core.timeseries import graphs
    from airmap.core.timeseries.infer import load_series_model
    from airmap.models.series_ensemble import combine
    from airmap.models.series_export import export_checked, load_checkpoint, series_card
    from airmap.models.spin.export import INPUTS, check_inputs
    from airmap.models.spin.net import SPIN

    paths = [member(torch, tmp_path, s) for s in (1, 2, 3)]
    combine(paths, str(tmp_path / "ens.pt"))
    ckpt, model = load_checkpoint(str(tmp_path / "ens.pt"), SPIN)
    members = [load_checkpoint(p, SPIN)[1] for p in paths]
    assert ckpt["config"]["members"] == 3 and ckpt["training"]["seed"] == [1, 2, 3]
    card = series_card(ckpt, model, "spin", "spin", INPUTS)
    assert card["parameters"] == 3 * sum(p.numel() for p in members[0].parameters())
    onnx_path = str(tmp_path / "ens.onnx")
    assert export_checked(model, onnx_path, card, check_inputs(ckpt), ["estimate"], SPIN_AXES) < 1e-4

    lon, lat, values, u, v = random_nodes(17, 40)
    got = load_series_model("spin", onnx_path, device="cpu").predict(lon, lat, values, u, v)
    observed = np.isfinite(values)
    scale = float(np.nanmean(values))
    a_diff, a_adv = graphs.spin_supports(lon, lat, observed, u, v, 10.0, 30.0)
    inputs = [torch.from_numpy(np.asarray(x, np.float32))[None] for x in
              (np.where(observed, values / scale, 0), observed, np.stack([u, v], -1), a_diff, a_adv)]
    with torch.no_grad():
        each = [m(*inputs)[0].numpy() * scale for m in members]
    assert np.abs(got - np.mean(each, axis=0)).max() < 1e-3 * scale
    assert np.abs(each[0] - each[1]).max() > 1e-2 * scale   # the members differ: the mean is not one of them


def test_ensemble_members_must_share_one_recipe(tmp_path):
    torch = pytest.importorskip("torch")
    from airmap.models.series_ensemble import combine

    a = member(torch, tmp_path, 1)
    with pytest.raises(ValueError, match="distinct seeds"):
        combine([a, a], str(tmp_path / "e1.pt"))
    other = member(torch, tmp_path, 2, config=dict(SPIN_CONFIG, channels=12))
    with pytest.raises(ValueError, match="config differs"):
        combine([a, other], str(tmp_path / "e2.pt"))
    wider = member(torch, tmp_path, 3, graph={"sigma_km": 20.0, "cutoff_km": 60.0, "advection": True})
    with pytest.raises(ValueError, match="graph differs"):
        combine([a, wider], str(tmp_path / "e3.pt"))


def test_a_diffusion_only_card_switches_the_advection_kernel_off(tmp_path):
    """A SPIN trained without advection never learnt its advection weights: whatever model file
    airmap:spin is given, its card decides, and the wind then leaves the graph unchanged."""
    torch = pytest.importorskip("torch")
    pytest.importorskip("onnxruntime")
    from airmap.core.timeseries.infer import load_series_model
    from airmap.models.series_export import export_checked, load_checkpoint, series_card
    from airmap.models.spin.export import INPUTS, check_inputs
    from airmap.models.spin.net import SPIN

    models = {}
    for flag in (True, False):
        path = member(torch, tmp_path, 5, graph={"sigma_km": 10.0, "cutoff_km": 30.0, "advection": flag})
        ckpt, model = load_checkpoint(path, SPIN)
        onnx_path = str(tmp_path / f"adv_{flag}.onnx")
        export_checked(model, onnx_path, series_card(ckpt, model, "spin", "spin", INPUTS), check_inputs(ckpt),
                       ["estimate"], SPIN_AXES)
        models[flag] = load_series_model("spin", onnx_path, device="cpu")
    assert models[True].advection and not models[False].advection
    lon, lat, values, u, v = random_nodes(15, 30)
    for flag, model in models.items():
        calm = model.predict(lon, lat, values, 0 * u, 0 * v)
        windy = model.predict(lon, lat, values, u, v)
        # the wind still enters the TCN features, so compare against a run with the kernel explicitly off
        model.advection = False
        kernel_off = model.predict(lon, lat, values, u, v)
        assert np.allclose(windy, kernel_off, atol=1e-5) == (not flag)
        assert not np.allclose(calm, windy)


def test_member_commands_may_differ_only_in_the_seed():
    pytest.importorskip("torch")   # models/series_ensemble is training code: it imports torch
    from airmap.models.series_ensemble import _flags

    a = "python -m x.train --seed 1 --steps 30 --norm window_mean --hidden 100 --out <dir>"
    b = "python -m x.train --seed 2 --steps 30 --hidden 100 --norm window_mean --out <dir>"
    assert _flags(a) == _flags(b)
    assert _flags(a) != _flags(b.replace("--steps 30", "--steps 60"))
    assert _flags(a) != _flags(a.replace(" --hidden 100", ""))


def test_selection_only_rewrites_the_card_and_keeps_the_network(tmp_path):
    """A late selection run is recorded in the card without re-exporting (or re-scoring) the
    model; a checkpoint that is not the file's own is refused."""
    torch = pytest.importorskip("torch")
    onnx = pytest.importorskip("onnx")
    from airmap.core.modelcard import decode_card
    from airmap.models.spin.export import main

    run = member(torch, tmp_path, 1)
    onnx_path = str(tmp_path / "spin.onnx")
    main([run, onnx_path, "--no-score"])
    before = onnx.load(onnx_path).graph.SerializeToString()
    selection = member(torch, tmp_path, 2)
    ckpt = torch.load(selection, weights_only=True)
    ckpt["training"]["validation"] = {"MAE": 1.5}
    torch.save(ckpt, selection)
    main([run, onnx_path, "--selection-only", "--selection", selection])
    model = onnx.load(onnx_path)
    card = decode_card({p.key: p.value for p in model.metadata_props})
    assert card["selection"] == [{"command": ckpt["training"]["command"], "validation": {"MAE": 1.5}}]
    assert model.graph.SerializeToString() == before
    with pytest.raises(ValueError, match="was not exported from"):
        main([selection, onnx_path, "--selection-only", "--selection", selection])


def test_recorded_run_reads_a_checkpoints_flags_and_seed_without_out(tmp_path):
    torch = pytest.importorskip("torch")
    from airmap.models.series_ensemble import recorded_run

    path = tmp_path / "spin.pt"
    assert recorded_run(str(path)) is None
    torch.save({"training": {"seed": 3, "command": "python -m airmap.models.spin.train --seed 3 --steps 30 "
                                                   "--exclude-share 0.25 --out <dir>"}}, path)
    flags, seed = recorded_run(str(path))
    assert seed == "3" and flags == {"--steps": "30", "--exclude-share": "0.25"}
