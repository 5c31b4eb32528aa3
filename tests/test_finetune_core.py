"""Fine-tuning below QGIS: the one ONNX -> torch reader for every family, reproducibility (same
seed -> same weights on the CPU), the learning curve, cancel, torch absent, residual kriging,
and the shipped cards' figures against the runs that produced them."""
import os
import re
import textwrap
from pathlib import Path

import numpy as np
import pytest

from helpers import run_plugin_script

torch = pytest.importorskip("torch")

REPO = Path(__file__).resolve().parents[1]


def _tiny_stack(seed=0, bands=2, shape=(48, 60)):
    from scipy.ndimage import gaussian_filter

    rng = np.random.default_rng(seed)
    return np.exp(np.stack([gaussian_filter(rng.standard_normal(shape), 3) * 3 for _ in range(bands)])).astype(np.float32)


def _initializers(path):
    import onnx
    from onnx import numpy_helper

    return {i.name: numpy_helper.to_array(i) for i in onnx.load(path).graph.initializer}


def test_one_reader_rebuilds_every_family(tmp_path):
    """models/onnx_weights.py: the same function gives back the torch weights of all four
    families, and the rebuilt networks reproduce the ONNX outputs."""
    import onnxruntime as ort

    from airmap.core import pointconv as pc
    from airmap.core.hfsdf import DEFAULT_MODEL
    from airmap.core.onnx_runtime import load_model
    from airmap.models.hfsdf.export import load_checkpoint
    from airmap.models.hfsdf.net import ImplicitNet, NetConfig
    from airmap.models.onnx_weights import state_dict_from_onnx
    from airmap.models.pointconv.weights import checkpoint_from_onnx

    card = load_model(DEFAULT_MODEL, "hfsdf", device="cpu").card
    net = ImplicitNet(NetConfig.from_dict(card["network"]))
    state_dict_from_onnx(DEFAULT_MODEL, net)
    trained, _, _ = load_checkpoint(str(REPO / "models" / "hfsdf" / "hfsdf_coded.pt"))
    for (name, a), b in zip(net.state_dict().items(), trained.state_dict().values()):
        assert torch.allclose(a, b, rtol=1e-6, atol=1e-7), name   # split + scaled skip weights assembled back
    pts = np.random.default_rng(0).uniform(-1, 1, (7, 3)).astype(np.float32)
    lat = np.random.default_rng(1).normal(0, 0.1, card["latent_dim"]).astype(np.float32)
    sess = ort.InferenceSession(DEFAULT_MODEL, providers=["CPUExecutionProvider"])
    empty = np.zeros((0, 3), np.float32)
    got = sess.run(["value"], {"latent": lat, "points": pts, "points_dz": empty, "points_jac": empty})[0]
    with torch.no_grad():
        ref = net(torch.from_numpy(lat), torch.from_numpy(pts)).numpy()
    assert np.allclose(got, ref, atol=1e-5)
    ckpt = checkpoint_from_onnx(pc.default_model_path("pm25"))
    heads = [k for k in ckpt["state_dict"] if k.startswith("unet.heads.")]
    assert len(heads) == 8 and torch.equal(ckpt["state_dict"]["unet.heads.0.weight"],
                                           ckpt["state_dict"]["unet.heads.3.weight"])


def test_one_reader_reads_compact_weight_storage(tmp_path):
    """Files whose weights models/onnx_compact.py stored as float16 / int8 (the reference run's
    larger networks) read back through the same reader, close to the float32 weights."""
    import onnx

    from airmap.core import pointconv as pc
    from airmap.core.hfsdf import DEFAULT_MODEL
    from airmap.core.onnx_runtime import load_model
    from airmap.models.hfsdf.net import ImplicitNet, NetConfig
    from airmap.models.onnx_compact import compact
    from airmap.models.onnx_weights import state_dict_from_onnx
    from airmap.models.pointconv.weights import checkpoint_from_onnx

    def compacted(path, share):
        proto = onnx.load(path)
        done = compact(proto, int(proto.ByteSize() * share))
        out = str(tmp_path / os.path.basename(path))
        onnx.save(proto, out)
        return out, done

    small, done = compacted(DEFAULT_MODEL, 0.7)
    assert done["fp16"] > 0
    config = NetConfig.from_dict(load_model(DEFAULT_MODEL, "hfsdf", device="cpu").card["network"])
    full, back = ImplicitNet(config), ImplicitNet(config)
    state_dict_from_onnx(DEFAULT_MODEL, full)
    state_dict_from_onnx(small, back)   # split + scaled blocks assembled from float16 storage
    for (name, a), b in zip(full.state_dict().items(), back.state_dict().values()):
        assert torch.allclose(a, b, rtol=2e-3, atol=1e-4), name
    small, done = compacted(pc.default_model_path("pm25"), 0.4)
    assert done["int8"] > 0
    ref, got = checkpoint_from_onnx(pc.default_model_path("pm25")), checkpoint_from_onnx(small)
    for name, a in ref["state_dict"].items():
        b = got["state_dict"][name]
        scale = float(a.abs().max()) or 1.0
        assert float((a - b).abs().max()) <= scale * (0.5 / 127 + 1e-3), name   # int8: half a step (+ fp16)


def test_same_seed_same_weights_and_curve(tmp_path):
    from airmap.core.superres import DEFAULT_ABPN
    from airmap.models.abpn.finetune import finetune
    from airmap.models.finetune import FinetuneOptions

    data = _tiny_stack()
    runs = [finetune(data, str(tmp_path / f"m{k}.onnx"), FinetuneOptions(DEFAULT_ABPN, max_steps=10, seed=5))
            for k in range(2)]
    a, b = (_initializers(r.model_path) for r in runs)
    assert a.keys() == b.keys() and all(np.array_equal(a[k], b[k]) for k in a)
    other = finetune(data, str(tmp_path / "m2.onnx"), FinetuneOptions(DEFAULT_ABPN, max_steps=10, seed=6))
    c = _initializers(other.model_path)
    assert any(not np.array_equal(a[k], c[k]) for k in a)
    curve = runs[0].curve
    assert [p["step"] for p in curve] == [0, 5, 10]
    assert curve[-1]["train_loss"] < curve[1]["train_loss"]          # the training loss falls
    assert runs[0].after["RMSE"] == min(p["validation"] for p in curve)  # best epoch kept
    card = runs[0].card
    assert card["finetuning"]["steps"] == 10 and card["finetuning"]["validation"]["after"] == runs[0].after


def test_cancel_stops_the_loop(tmp_path):
    from airmap.core.errors import Cancelled
    from airmap.core.progress import Progress
    from airmap.core.frame_interp import DEFAULT_XVFI
    from airmap.models.finetune import FinetuneOptions
    from airmap.models.xvfi.finetune import finetune

    calls = []
    progress = Progress(report=calls.append, is_cancelled=lambda: len(calls) >= 2)
    stack = _tiny_stack(bands=8, shape=(40, 40))
    with pytest.raises(Cancelled):
        finetune(stack, str(tmp_path / "x.onnx"), FinetuneOptions(DEFAULT_XVFI, max_steps=50), progress=progress)
    assert not os.path.exists(tmp_path / "x.onnx")


def test_hfsdf_finetune_scores_held_back_through_the_plugin(tmp_path):
    """The after score is the plugin's read-out of the written file, and it is in the card."""
    from airmap.core.grid import Grid
    from airmap.core.hfsdf import DEFAULT_MODEL, Observations
    from airmap.models.finetune import FinetuneOptions
    from airmap.models.hfsdf.finetune import finetune

    grid = Grid.from_extent(0, 0, 20, 16, 1.0)
    gx, gy = grid.cell_centres()
    maps = [Observations.from_raster(10 + 3 * np.sin(gx / 3 + k) + 0.2 * gy, grid) for k in range(2)]
    res = finetune(maps, str(tmp_path / "h.onnx"), FinetuneOptions(DEFAULT_MODEL, max_steps=5, seed=1))
    held = res.card["finetuning"]["validation"]
    assert held["before"]["N"] == held["after"]["N"] == 128 and held["after"] == res.after
    with open(tmp_path / "h.onnx", "rb"):
        pass
    from airmap.core.hfsdf import load_decoder

    assert load_decoder(str(tmp_path / "h.onnx"), device="cpu").model.card["finetuning"]["steps"] == 5


def test_best_checkpoint_keeps_the_base_when_training_cannot_improve():
    """train_budget compares every epoch with the start (epoch 0): when the held-back score only
    gets worse, the model ends with its starting weights and best_epoch 0."""
    from airmap.models.finetune import FinetuneOptions, train_budget

    torch.manual_seed(0)
    net = torch.nn.Linear(3, 1)
    start = {k: v.clone() for k, v in net.state_dict().items()}
    x = torch.randn(32, 3)
    calls = []

    def validate():                      # worse after every epoch
        calls.append(1)
        return float(len(calls))

    run = train_budget(net, lambda step: (net(x) - 5.0).pow(2).mean(), validate,
                       FinetuneOptions("unused.onnx", minutes=1, max_steps=12), 0.1, 4)
    assert run["best_epoch"] == 0 and run["steps"] == 12 and len(run["curve"]) == 4
    assert all(torch.equal(start[k], v) for k, v in net.state_dict().items())


def test_xvfi_linear_anchor_power_law_and_weight():
    """The linear-interpolation error of a smooth signal grows as the square of the gap (the law
    the anchor extrapolates with); the anchored graph with weight 0 is linear interpolation and
    with true pairs the weight is the least-squares one."""
    from airmap.models.xvfi.anchor import LinearAnchored, anchor_weight, linear_error_power_law

    t = np.arange(200, dtype=np.float64)
    stack = np.sin(2 * np.pi * t / 60)[:, None, None] * np.ones((1, 2, 3))
    law = linear_error_power_law(stack)
    assert abs(law["p"] - 2.0) < 0.1
    rng = np.random.default_rng(0)
    truth, lin = rng.normal(size=(40, 2, 8, 8)), np.zeros((40, 2, 8, 8))
    half = anchor_weight(truth, lin, 2 * truth, lin, 2 * truth, law, (1 / 3, 2 / 3), same_level=True)
    assert abs(half["weight"] - 0.5) < 1e-6
    noise = anchor_weight(truth, lin, -truth, lin, truth, law, (1 / 3, 2 / 3), same_level=False)
    assert noise["weight"] == 0.0 and noise["corr_up"] < 0

    class Const(torch.nn.Module):
        scale, levels = 4, 1

        def forward(self, frames, t):
            return torch.full_like(frames[:, :1], 100.0)

    frames, tt = torch.randn(2, 2, 4, 4), torch.tensor([[0.25], [0.5]])
    linear = (1 - tt.view(-1, 1, 1, 1)) * frames[:, :1] + tt.view(-1, 1, 1, 1) * frames[:, 1:]
    assert torch.allclose(LinearAnchored(Const(), 0.0)(frames, tt), linear)
    assert torch.allclose(LinearAnchored(Const(), 1.0)(frames, tt), torch.full_like(linear, 100.0))


def test_algorithms_load_and_explain_without_torch():
    script = textwrap.dedent("""
        import sys
        sys.modules["torch"] = None
        from airmap.core.errors import AirmapInputError
        from airmap.core.finetune import torch_module
        from airmap.algorithms import finetuneabpn, finetunehfsdf, finetunepointconv, finetunespin, finetunexvfi
        for m, cls in ((finetuneabpn, "FinetuneAbpnAlgorithm"), (finetunexvfi, "FinetuneXvfiAlgorithm"),
                       (finetunehfsdf, "FinetuneHfsdfAlgorithm"), (finetunepointconv, "FinetunePointconvAlgorithm"),
                       (finetunespin, "FinetuneSpinAlgorithm")):
            assert "pip install torch" in getattr(m, cls).HELP
        try:
            torch_module("abpn.finetune", "airmap:finetuneabpn")
        except AirmapInputError as exc:
            print("HINT:", exc)
        print("LOADED")
    """)
    proc = run_plugin_script(script, QT_QPA_PLATFORM="offscreen")
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "LOADED" in proc.stdout
    hint = next(line for line in proc.stdout.splitlines() if line.startswith("HINT:"))
    assert "airmap:finetuneabpn" in hint and "pip install torch==" in hint


def _flag(command, name, default):
    match = re.search(rf"--{name} (\S+)", command)
    return type(default)(match.group(1)) if match else default


def test_shipped_cards_match_their_runs():
    """Every figure a shipped card states about its run agrees with the run's own record:
    parameter counts with the network the card's config builds, steps/threads/device with the
    recorded command, and the ONNX-vs-torch difference with a fresh comparison."""
    from airmap.core import pointconv as pc
    from airmap.core.frame_interp import DEFAULT_XVFI
    from airmap.core.hfsdf import DEFAULT_MODEL
    from airmap.core.onnx_runtime import load_model
    from airmap.core.superres import DEFAULT_ABPN
    from airmap.models.abpn.net import ABPN
    from airmap.models.hfsdf.net import ImplicitNet, NetConfig, count_parameters
    from airmap.models.pointconv.weights import checkpoint_from_onnx
    from airmap.models.xvfi.net import XVFI

    for path, task, net in ((DEFAULT_ABPN, "abpn", ABPN), (DEFAULT_XVFI, "xvfi", XVFI)):
        card = load_model(path, task, device="cpu").card
        assert card["parameters"] == sum(p.numel() for p in net(**card["config"]).parameters())
        command, budget = card["training"]["command"], card["training"]["budget"]
        assert budget.startswith(f"{_flag(command, 'steps', 1500)} steps x batch {_flag(command, 'batch', 8)}")
        assert f"lr {_flag(command, 'lr', 2e-4)}" in budget and "1 CPU thread" in budget
        assert card["metrics"]["onnx_vs_torch_max_abs"] < 1e-4
    card = load_model(DEFAULT_MODEL, "hfsdf", device="cpu").card
    budget, command = card["training"]["budget"], card["training"]["command"]
    assert budget["threads"] == _flag(command, "threads", 1) and budget["device"] == _flag(command, "device", "cpu")
    assert card["parameters"] == count_parameters(ImplicitNet(NetConfig.from_dict(card["network"])))
    assert abs(budget["minutes"] - _flag(command, "minutes", 30.0)) < 1.0
    for variant in ("pm25", "met"):
        ckpt = checkpoint_from_onnx(pc.default_model_path(variant))
        card = ckpt["card"]
        stages = card["training"]["stages"]
        assert card["training"]["command"] == " && ".join(s["command"] for s in stages)
        assert card["training"]["budget"] == "; then ".join(s["budget"] for s in stages)
        assert card["architecture"]["parameters"] == sum(v.numel() for v in ckpt["state_dict"].values())
        assert card["trained_on"].startswith("simulated fields only")     # the shipped models were
        assert abs(stages[-1]["validation_R2"] - card["metrics"]["validation_simulated_800_station_density"]["R2"]) < 1e-3
