"""The torch side of PointConv-UNet++ (models/pointconv): the normalised convolution, the
UNet++ shape rules, ONNX export with a valid card, and training samples built with the same
normalisation as inference."""
import numpy as np
import pytest

torch = pytest.importorskip("torch")  # the optional training backend

from airmap.core import pointconv as pc
from airmap.models.pointconv import data
from airmap.models.pointconv.net import PointConv, PointConvUNetPP, UNetPlusPlus, count_parameters


def test_pointconv_spreads_a_constant_network_exactly():
    torch.manual_seed(0)
    layer = PointConv(1)
    with torch.no_grad():  # arbitrary learned kernels: normalisation must still hold
        layer.raw1.add_(torch.randn_like(layer.raw1))
        layer.raw2.add_(torch.randn_like(layer.raw2))
    mask = (torch.rand(1, 1, 64, 64) < 0.02).float()
    mask[..., 32:, :] = 0  # the south half has no station
    field, conf = layer(7.0 * mask, mask)
    covered = conf > 0.05
    # each step is a weighted mean of station values, so the sum is 7 + 7 where both steps
    # reach a station and 7 where only the wider second step does: never anything between
    steps = field[covered] / 7.0
    assert torch.allclose(steps, steps.round(), atol=1e-3) and set(steps.round().unique().tolist()) == {1.0, 2.0}
    far = conf[..., 50:, :]
    assert (far == 0).all() and (field[..., 50:, :] == 0).all()  # no station in reach: no data, not noise
    assert conf.min() >= 0 and conf.max() < 1


def test_pointconv_kernels_have_no_preferred_axis():
    layer = PointConv(2)
    with torch.no_grad():
        layer.raw1.add_(torch.randn_like(layer.raw1))
    w1, w2 = layer.kernels()
    assert w1.shape == (2, 1, 21, 21) and w2.shape == (2, 1, 11, 11)
    assert (w1 > 0).all()
    assert torch.allclose(w1, torch.rot90(w1, 1, (-2, -1))) and torch.allclose(w1, w1.transpose(-1, -2))


def test_unetpp_reference_size_and_multiple_of_16():
    # Nest_Net reference: 9,041,601 parameters with one head; ours has the 4 deep-supervision heads
    full = UNetPlusPlus(1)
    assert count_parameters(full) == 9_041_601 + 3 * 33
    small = PointConvUNetPP(1, 2, [8, 16, 32, 64, 128]).eval()
    out = small(torch.rand(1, 6, 48, 80))
    assert out.shape == (1, 1, 48, 80) and (out >= 0).all()  # ReLU head
    small.train()
    assert len(small(torch.rand(1, 6, 32, 32))) == 4  # deep supervision heads when training


def test_training_samples_use_the_inference_normalisation():
    day = data.smooth_random_days(1, size=48, seed=3)[0]
    rng = np.random.default_rng(0)
    x, y, scale = data.sample_inputs(day, "met", rng, n=40, covariate_keep=1.0)
    assert x.shape == (len(pc.channel_names("met")), 48, 48)
    mask = x[1] > 0
    assert mask.sum() == 40
    assert np.allclose(x[0][mask], y[0][mask])  # station values = the target there, same scale
    assert np.isclose(scale, day.pm25[mask].mean(), rtol=1e-5)
    assert np.allclose(x[6], day.dem / pc.DIVISORS["dem"]) and x[7].min() == 1
    x2, y2 = data.make_sample(day, "pm25", np.random.default_rng(0))
    assert x2.shape[0] == 6 and y2.shape == (1, 48, 48)


def test_export_roundtrip_with_card(tmp_path):
    from airmap.core.onnx_runtime import load_model
    from airmap.models.pointconv.export import export

    torch.manual_seed(0)
    model = PointConvUNetPP(1, 2, [4, 8, 8, 8, 8])
    ckpt = tmp_path / "tiny.pt"
    record = {"variant": "pm25", "filters": [4, 8, 8, 8, 8], "k1": 21, "k2": 11,
              "parameters": count_parameters(model), "validation": {"R2": 0.0},
              "training": {"data": "test", "seed": 0, "command": "test", "budget": "none"}}
    torch.save({"state_dict": model.state_dict(), "record": record}, ckpt)
    path = tmp_path / "tiny.onnx"
    export(str(ckpt), str(path))
    loaded = load_model(str(path), "pointconv", device="cpu")
    assert pc.check_card(loaded.card, "tiny") == "pm25"
    x = np.random.default_rng(0).random((1, 6, 32, 48)).astype(np.float32)
    with torch.no_grad():
        ref = model.eval()(torch.from_numpy(x)).numpy()
    assert np.allclose(loaded(x), ref, atol=1e-4)
    with pytest.raises(Exception):
        load_model(str(path), "abpn", device="cpu")


def test_finetune_from_the_users_rasters(tmp_path):
    """train.py --source rasters: the documented route to adapt the model to a region."""
    from airmap.core.grid import Grid
    from airmap.core.raster_io import write_raster
    from airmap.models.pointconv import train

    days = data.smooth_random_days(5, size=48, seed=1)
    grid = Grid.from_extent(100, 30, 104.8, 34.8, 0.1, "EPSG:4326")
    pm = np.stack([d.pm25 for d in days])
    pm[:, :3, :] = np.nan  # no-data rows (e.g. sea) are skipped by sampling and loss
    write_raster(str(tmp_path / "pm25.tif"), pm, grid)
    write_raster(str(tmp_path / "dem.tif"), days[0].dem, grid)
    first = tmp_path / "first.pt"
    args = ["--source", "rasters", "--pm25-raster", str(tmp_path / "pm25.tif"), "--dem-raster",
            str(tmp_path / "dem.tif"), "--width-div", "8", "--steps", "2", "--batch", "2", "--crop", "32"]
    train.main(args + ["--out", str(first)])
    from airmap.models.pointconv.export import export

    export(str(first), str(tmp_path / "first.onnx"))  # fine-tuning starts from an ONNX file too
    tuned = tmp_path / "tuned.pt"
    train.main(args + ["--init", str(tmp_path / "first.onnx"), "--out", str(tuned)])
    record = torch.load(tuned)["record"]
    assert len(record["training"]["stages"]) == 2 and "--init" in record["training"]["command"]
    assert np.isfinite(record["validation"]["R2"])
    assert record["validation"]["N"] == 45 * 48  # the one held-out day, no-data rows excluded


def test_shipped_onnx_rebuilds_the_torch_model():
    """models/pointconv/weights.py: the released ONNX is a valid fine-tuning start."""
    import onnxruntime as ort

    from airmap.models.pointconv.weights import checkpoint_from_onnx

    for variant in ("pm25", "met"):
        path = pc.default_model_path(variant)
        ckpt = checkpoint_from_onnx(path)
        rec = ckpt["record"]
        model = PointConvUNetPP(len(pc.VARIANT_VARIABLES[variant]), 2, rec["filters"], rec["k1"], rec["k2"])
        model.load_state_dict(ckpt["state_dict"])
        x = np.random.default_rng(1).random((1, len(pc.channel_names(variant)), 48, 64)).astype(np.float32)
        x[:, 1] = x[:, 1] > 0.97
        with torch.no_grad():
            ref = model.eval()(torch.from_numpy(x)).numpy()
        got = ort.InferenceSession(path, providers=["CPUExecutionProvider"]).run(None, {"x": x})[0]
        assert np.allclose(got, ref, atol=1e-4)
