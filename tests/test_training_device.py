"""The trainers' --device option (models/torch_device.py): how 'cpu' / 'cuda' / 'auto' resolve,
the message when CUDA is missing, and that a run on the resolved device still writes CPU
checkpoints and CPU-format run records."""
import argparse

import pytest

torch = pytest.importorskip("torch")  # the optional training backend

from airmap.models import torch_device
from airmap.models.torch_device import cpu_state_dict, device_label, resolve_device
from airmap.models.training_loop import optimiser_budget, reproduce_command


def test_cpu_resolves_to_cpu():
    assert resolve_device("cpu") == torch.device("cpu")
    assert device_label(torch.device("cpu")) == "cpu"


def test_auto_follows_cuda_availability(monkeypatch):
    # the real machine: 'auto' is CUDA exactly when torch sees a GPU (CPU on the CPU-only venv)
    assert resolve_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert resolve_device("auto") == torch.device("cpu")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert resolve_device("auto") == torch.device("cuda")  # resolution only: nothing allocated


def test_cuda_without_gpu_stops_with_a_clear_message(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(SystemExit) as info:
        resolve_device("cuda")
    message = str(info.value)
    assert "CUDA is not available" in message and "--device cpu" in message


def test_unknown_device_is_rejected():
    with pytest.raises(ValueError, match="cpu, cuda, auto"):
        resolve_device("gpu")


def test_cpu_records_read_as_before_the_option():
    """Default-device records keep their old text; a GPU run is named in command and budget."""
    args = argparse.Namespace(out="/x", seed=0, steps=2, batch=1, device="cpu", lr=0.1)
    assert reproduce_command("m", args).endswith("-m m --seed 0 --steps 2 --batch 1 --lr 0.1 --out <dir>")
    args.device = "cuda"
    assert "--batch 1 --device cuda --lr" in reproduce_command("m", args)
    assert optimiser_budget(0.1, 1.25) == "Adam lr 0.1 cosine, 1.2 min on 1 CPU thread"


def test_cpu_state_dict_keeps_module_versions():
    module = torch.nn.Sequential(torch.nn.Conv2d(1, 2, 3), torch.nn.BatchNorm2d(2))
    state = cpu_state_dict(module)
    assert all(v.device.type == "cpu" for v in state.values())
    assert state._metadata == module.state_dict()._metadata
    fresh = torch.nn.Sequential(torch.nn.Conv2d(1, 2, 3), torch.nn.BatchNorm2d(2))
    fresh.load_state_dict(state)
    assert all(torch.equal(a, b) for a, b in zip(fresh.state_dict().values(), module.state_dict().values()))


def test_tiny_abpn_run_with_auto_device_saves_cpu_tensors(tmp_path):
    from airmap.models.abpn import train

    out = tmp_path / "run"
    train.main(["--steps", "2", "--dim", "4", "--n-up", "3", "--batch", "1", "--patch", "8",
                "--scenarios", "1", "--val-scenarios", "1", "--size", "48", "--days", "1",
                "--out", str(out), "--device", "auto"])
    ckpt = torch.load(out / "abpn.pt", weights_only=False)   # no map_location: tensors come back where saved
    assert ckpt["state_dict"] and all(v.device.type == "cpu" for v in ckpt["state_dict"].values())
    used = torch_device.resolve_device("auto")
    budget, command = ckpt["training"]["budget"], ckpt["training"]["command"]
    if used.type == "cpu":
        assert budget.endswith("min on 1 CPU thread") and "--device" not in command
    else:
        assert device_label(used) in budget and "--device cuda" in command
    assert torch.isfinite(torch.tensor(ckpt["metrics"]["abpn"]["RMSE"]))
