"""The trainers as library functions: ``train(config, progress)`` with a progress and cancel hook,
argparse only in ``main``, and every family able to start from the weights of an ONNX file."""
import numpy as np
import pytest

torch = pytest.importorskip("torch")


def _tiny_abpn_args(tmp_path, *extra):
    from airmap.models.abpn import train

    return train.parse_args(["--steps", "2", "--batch", "1", "--patch", "8", "--scenarios", "1",
                             "--val-scenarios", "1", "--size", "48", "--days", "1", "--out", str(tmp_path),
                             *extra])


def test_abpn_train_starts_from_the_shipped_onnx_and_reports_progress(tmp_path):
    from airmap.core.progress import Progress
    from airmap.core.superres import DEFAULT_ABPN
    from airmap.models.abpn import train

    seen = []
    ckpt = train.train(_tiny_abpn_args(tmp_path, "--steps", "1", "--init", DEFAULT_ABPN), Progress(report=seen.append))
    assert seen and seen[-1] == pytest.approx(1.0)
    assert "--init" in ckpt["training"]["command"]
    from airmap.models.abpn.net import ABPN
    from airmap.models.onnx_weights import state_dict_from_onnx

    shipped = ABPN(**ckpt["config"])
    state_dict_from_onnx(DEFAULT_ABPN, shipped)
    # one small step from the shipped weights: close to them, not equal to a fresh start's
    diffs = [float((a - b).abs().max()) for a, b in zip(ckpt["state_dict"].values(), shipped.state_dict().values())]
    assert max(diffs) < 1e-2


def test_abpn_init_of_another_configuration_is_refused(tmp_path):
    from airmap.core.superres import DEFAULT_ABPN
    from airmap.models.abpn import train

    with pytest.raises(SystemExit, match="config"):
        train.train(_tiny_abpn_args(tmp_path, "--dim", "4", "--n-up", "3", "--init", DEFAULT_ABPN))


def test_xvfi_train_cancel_between_steps(tmp_path):
    from airmap.core.errors import Cancelled
    from airmap.core.frame_interp import DEFAULT_XVFI
    from airmap.core.progress import Progress
    from airmap.models.xvfi import train

    args = train.parse_args(["--steps", "50", "--batch", "1", "--crop", "32", "--scenarios", "1", "--val-scenarios",
                             "1", "--size", "48", "--days", "1", "--init", DEFAULT_XVFI, "--out", str(tmp_path)])
    seen = []
    with pytest.raises(Cancelled):
        train.train(args, Progress(report=seen.append, is_cancelled=lambda: len(seen) >= 2))
    assert len(seen) == 2


def test_hfsdf_train_from_the_shipped_onnx(tmp_path):
    from airmap.core.hfsdf import DEFAULT_MODEL
    from airmap.core.onnx_runtime import load_model
    from airmap.models.hfsdf.net import NetConfig
    from airmap.models.hfsdf.train import train

    card = load_model(DEFAULT_MODEL, "hfsdf", device="cpu").card
    points = [np.random.default_rng(k).uniform(-1, 1, (64, 3)).astype(np.float32) for k in range(2)]
    net, latents, steps, _, history = train(points, NetConfig.from_dict(card["network"]), minutes=1, max_steps=0,
                                            batch=2, n_points=32, lr_net=1e-3, lr_latent=1e-3, seed=0,
                                            init=DEFAULT_MODEL, log=lambda m: None)
    from airmap.models.hfsdf.export import load_checkpoint
    from airmap.models.hfsdf.net import ImplicitNet

    trained, _, _ = load_checkpoint(str(__import__("pathlib").Path(DEFAULT_MODEL).with_name("hfsdf_coded.pt")))
    assert steps == 0 and latents.shape == (2, card["latent_dim"])
    assert all(torch.allclose(a, b, atol=1e-6) for a, b in zip(net.state_dict().values(), trained.state_dict().values()))
    assert isinstance(net, ImplicitNet)


def test_pointconv_train_is_a_library_function_with_cancel(tmp_path):
    from airmap.core.errors import Cancelled
    from airmap.core.progress import Progress
    from airmap.models.pointconv import train

    args = train.parse_args(["--source", "random", "--days", "2", "--val-days", "1", "--size", "32", "--width-div",
                             "16", "--batch", "1", "--steps", "3", "--out", str(tmp_path / "x.pt")])
    seen = []
    ckpt = train.train(args, Progress(report=seen.append), argv=["--steps", "3"])
    assert seen[-1] == pytest.approx(1.0) and ckpt["record"]["trained_on"].startswith("smooth random")
    assert not (tmp_path / "x.pt").exists()          # the library function returns, main saves
    with pytest.raises(Cancelled):
        train.train(args, Progress(is_cancelled=lambda: True), argv=[])
