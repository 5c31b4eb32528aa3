"""Issue 14: the reference-size training command (models/reference), run whole on the CPU at toy
sizes, and its parts: the configurations are the papers', the simulator cache is what the
trainers read, and compact weight storage fits the size limit while staying close to float32."""
import os
import subprocess
import sys

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from helpers import REPO  # noqa: E402

from airmap.models.onnx_compact import compact, stored_arrays  # noqa: E402
from airmap.models.reference import jobs as reference_jobs  # noqa: E402
from airmap.models.reference.ship import MAX_BYTES, ONNX_FILES  # noqa: E402

TASKS = {"abpn": "abpn", "xvfi": "xvfi", "pointconv_pm25": "pointconv", "pointconv_met": "pointconv",
         "hfsdf": "hfsdf"}


@pytest.fixture(scope="module")
def reference_run(tmp_path_factory):
    """The whole command, tiny sizes, a budget of seconds, on the CPU (~1 min on 2 cores)."""
    out = tmp_path_factory.mktemp("reference_out")
    work = tmp_path_factory.mktemp("reference_work")
    cmd = [sys.executable, "-m", "airmap.models.reference", "--tiny", "--device", "cpu", "--budget-s", "8",
           "--processes", "2", "--out", str(out), "--work-dir", str(work)]
    env = dict(os.environ, PYTHONPATH=str(REPO / ".pkg"), OMP_NUM_THREADS="1")
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600, env=env)
    return proc, out, work


def card_of(path):
    from airmap.core.onnx_runtime import load_model

    return load_model(str(path), device="cpu").card


def test_command_writes_every_model_within_the_limits(reference_run):
    proc, out, _ = reference_run
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    files = sorted(os.listdir(out))
    assert len(files) <= 8
    assert set(ONNX_FILES.values()) | {"summary.md", "reference.log", "hfsdf_coded.pt"} == set(files)
    for name, file in ONNX_FILES.items():
        path = out / file
        assert 0 < path.stat().st_size <= MAX_BYTES
        from airmap.core.onnx_runtime import load_model

        card = load_model(str(path), task=TASKS[name], device="cpu").card   # a valid card of the right task
        run = card["training"]["reference_run"]
        assert run["device"] == "cpu" and run["budget_s"] == 8
        assert 0 < run["steps"] < int(reference_jobs.MAX_STEPS)   # the wall clock stopped training
        assert run["train_window_s"] > 0 and run["trainer_wall_s"] > 0
        assert card["metrics"]["weights_storage"] == "float32"    # tiny nets fit without compaction
        scores = card["metrics"]["bench_heldout_simulated"]
        for version in ("reference", "shipped"):
            assert scores[version] and all(np.isfinite(m["RMSE"]) for m in scores[version].values())


def test_summary_compares_each_model_with_the_shipped_one(reference_run):
    _, out, _ = reference_run
    summary = (out / "summary.md").read_text()
    for name in ONNX_FILES:
        card = card_of(out / ONNX_FILES[name])
        row = next(line for line in summary.splitlines() if line.startswith(f"| {name} | "))
        assert f"| {card['training']['reference_run']['steps']} |" in row    # steps from the card
        ours = card["metrics"]["bench_heldout_simulated"]["reference"]
        for label, m in ours.items():
            held_out = label
            assert f"| {name} | {held_out} | reference | {m['RMSE']:.3f} |" in summary
        shipped_rows = [l for l in summary.splitlines() if l.startswith(f"| {name} | ") and "| shipped |" in l]
        assert len(shipped_rows) == len(ours)
    assert len(summary.splitlines()) < 60   # one page


def test_log_holds_every_trainer_and_the_data_step(reference_run):
    _, out, work = reference_run
    log = (out / "reference.log").read_text()
    assert "data: " in log and "simulator scenarios/regions" in log
    for name in ONNX_FILES:
        assert f"===== {name} " in log
    first = (work / "pointconv_met.log").read_text().splitlines()[0]   # the trainer's command line
    assert first.startswith("$ ") and f"--warm-start {work / 'pointconv_pm25.pt'} " in first   # met starts from pm25


def test_configurations_are_the_papers():
    """FULL trains the reference networks: DeepCAMS' ABPN and XVFI, UNet++ 32..512, HF-SDF 8x512."""
    from airmap.models.abpn.net import DEEPCAMS_CONFIG as ABPN_PAPER
    from airmap.models.hfsdf.net import paper_config
    from airmap.models.pointconv.train import parse_args
    from airmap.models.xvfi.net import DEEPCAMS_CONFIG as XVFI_PAPER
    from airmap.models.pointconv.net import REFERENCE_FILTERS

    def flag(argv, name):
        return argv[argv.index(name) + 1]

    by_name = {j.name: j for j in reference_jobs.jobs(reference_jobs.FULL, "/w", "/c", 0)}
    abpn = by_name["abpn"].argv
    assert (int(flag(abpn, "--dim")), int(flag(abpn, "--n-up"))) == (ABPN_PAPER["dim"], ABPN_PAPER["n_up"])
    assert int(flag(by_name["xvfi"].argv, "--nf")) == XVFI_PAPER["nf"]
    for variant in ("pm25", "met"):
        args = parse_args(by_name[f"pointconv_{variant}"].argv)
        assert args.variant == variant and args.width_div == 1 and args.bf16
        assert [c // args.width_div for c in REFERENCE_FILTERS] == [32, 64, 128, 256, 512]
    hf = by_name["hfsdf"].argv
    paper = paper_config()
    assert (int(flag(hf, "--width")), int(flag(hf, "--latent")), int(flag(hf, "--depth"))) == \
        (paper.width, paper.latent_dim, paper.depth)
    assert by_name["pointconv_met"].after == "pointconv_pm25"


def test_simulator_cache_is_what_the_trainers_read(tmp_path, monkeypatch):
    """After the parallel data step the trainers' data calls simulate nothing."""
    from airmap.core import training_data
    from airmap.core.deepcams import hourly_stacks
    from airmap.models.hfsdf import data as hfsdf_data
    from airmap.models.pointconv.data import simulator_days
    from airmap.models.reference import simdata

    sizes = reference_jobs.TINY
    cache = str(tmp_path)
    simdata.generate(simdata.tasks(sizes, reference_jobs.GROUPS, 0), cache, 2, lambda msg: None)

    def no_simulation(*a, **k):
        raise AssertionError("simulated again: the cache missed")

    monkeypatch.setattr(training_data, "run_scenario", no_simulation)
    monkeypatch.setattr(hfsdf_data, "scenario", no_simulation)
    dc, pc, hf = sizes.deepcams, sizes.pointconv, sizes.hfsdf
    for count, seed in ((dc["scenarios"], 0), (dc["val_scenarios"], 10_000)):
        stacks = list(hourly_stacks(count, size=dc["size"], days=dc["days"], seed=seed, cache_dir=cache))
        assert len(stacks) == count and stacks[0][1] == "simulator"
    for count, seed in ((pc["days"], 4), (pc["val_days"], 10_004)):
        assert len(simulator_days(count, pc["size"], seed, cache_dir=cache)) == count
    train, _ = hfsdf_data.simulator_maps(range(1000, 1000 + hf["regions"]), size=hf["size"], cache_dir=cache)
    assert len(train.maps) == hf["regions"] * 24 and train.maps[0].shape == (hf["size"], hf["size"])


def _conv_model(tmp_path, seed=0):
    """A small float32 ONNX model (two convolutions) and an input for it."""
    net = torch.nn.Sequential(torch.nn.Conv2d(1, 64, 5, padding=2), torch.nn.ReLU(),
                              torch.nn.Conv2d(64, 64, 3, padding=1), torch.nn.ReLU(),
                              torch.nn.Conv2d(64, 1, 3, padding=1))
    torch.manual_seed(seed)
    for p in net.parameters():
        torch.nn.init.normal_(p, std=0.1)
    path = str(tmp_path / "m.onnx")
    torch.onnx.export(net.eval(), (torch.zeros(1, 1, 16, 16),), path, input_names=["x"], output_names=["y"],
                      dynamic_axes={"x": {2: "h", 3: "w"}}, opset_version=17, dynamo=False)
    x = np.random.default_rng(seed).standard_normal((1, 1, 32, 32)).astype(np.float32)
    return path, x


def _run(proto, x):
    import onnxruntime as ort

    return ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"]).run(None, {"x": x})[0]


def test_float16_storage_halves_the_file_and_keeps_the_outputs(tmp_path):
    """The fp16 effect, measured: the file shrinks to ~half and the outputs move by ~1e-3 of
    their range (what float16's 11-bit mantissa allows), not zero and not more."""
    import onnx

    path, x = _conv_model(tmp_path)
    proto = onnx.load(path)
    size32, ref = proto.ByteSize(), _run(proto, x)
    assert compact(proto, size32)["fp16"] == 0          # fits already: left as float32
    done = compact(proto, int(size32 * 0.6))
    assert done["fp16"] == 3 and done["int8"] == 0 and done["bytes"] < 0.55 * size32
    out = _run(proto, x)
    rel = np.abs(out - ref).max() / np.abs(ref).max()
    assert 0 < rel < 2e-3
    weights = stored_arrays(proto)
    original = {i.name: onnx.numpy_helper.to_array(i) for i in onnx.load(path).graph.initializer}
    for name, arr in original.items():   # read back under the old names, as float32
        assert weights[name].dtype == np.float32
        np.testing.assert_allclose(weights[name], arr, rtol=1e-3, atol=1e-6)


def test_int8_storage_only_for_what_does_not_fit(tmp_path):
    import onnx

    path, x = _conv_model(tmp_path)
    proto = onnx.load(path)
    size32, ref = proto.ByteSize(), _run(proto, x)
    done = compact(proto, int(size32 * 0.4))             # below the float16 size: int8 needed
    assert done["int8"] >= 1 and done["bytes"] <= size32 * 0.4
    assert any(op.version >= 13 for op in proto.opset_import if op.domain in ("", "ai.onnx"))
    out = _run(proto, x)
    rel = np.abs(out - ref).max() / np.abs(ref).max()
    assert 1e-4 < rel < 5e-2
    with pytest.raises(ValueError, match="MiB"):
        compact(onnx.load(path), 1000)


def test_abpn_weights_read_back_from_a_compact_file(tmp_path):
    """Fine-tuning from a shipped file works whatever its weight storage."""
    import onnx

    from airmap.models.abpn.export import export
    from airmap.models.abpn.net import ABPN
    from airmap.models.onnx_weights import state_dict_from_onnx

    config = {"channels": 1, "dim": 8, "n_up": 3, "kernel": 5, "stride": 3, "padding": 1}
    torch.manual_seed(0)
    model = ABPN(**config)
    card = {"schema": 1, "task": "abpn", "name": "t", "units": "u", "normalisation": {"kind": "none"},
            "training": {"data": "-", "seed": 0, "command": "-", "budget": "-"}, "metrics": {}, "config": config}
    path = str(tmp_path / "abpn.onnx")
    export(model, path, card)
    proto = onnx.load(path)
    assert compact(proto, int(proto.ByteSize() * 0.7))["fp16"] > 0
    onnx.save(proto, path)
    back = ABPN(**config)
    state_dict_from_onnx(path, back)
    for name, value in model.state_dict().items():
        np.testing.assert_allclose(back.state_dict()[name].numpy(), value.numpy(), rtol=1e-3, atol=1e-5)


def test_bf16_is_for_cuda_only():
    from airmap.models.training_loop import use_bf16

    said = []
    assert use_bf16(True, torch.device("cpu"), said.append) is False and "CUDA only" in said[0]
    assert use_bf16(True, torch.device("cuda"), said.append) is True    # resolution only, nothing allocated
    assert use_bf16(False, torch.device("cuda"), said.append) is False


def test_budget_plan_fits_the_nine_minutes():
    """The default budget is the issue's 9 minutes, and the training window leaves the reserve."""
    from airmap.models.reference import run

    args = run.parse_args([])
    assert args.budget_s <= 540 and args.device == "cuda"
    assert args.budget_s * (1 - run.RESERVE_SHARE) + run.GRACE_S < 540
    shares = [j.share for j in reference_jobs.jobs(reference_jobs.FULL, "/w", "/c", 0) if j.group == "pointconv"]
    assert sum(shares) == pytest.approx(1.0)   # the two PointConv variants run one after the other
    assert args.only is None
