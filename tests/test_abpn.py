"""Issue 4: ABPN ×3 — the network, its ONNX export, and core/superres.py (QGIS-free)."""
import numpy as np
import pytest

from airmap.core.errors import AirmapInputError, ModelError
from airmap.core.superres import DEFAULT_ABPN, conserve_block_means, load_abpn, super_resolve


def smooth(rng, h, w, sigma=3.0, level=30.0, amp=15.0):
    from scipy.ndimage import gaussian_filter

    f = gaussian_filter(rng.standard_normal((h, w)), sigma, mode="wrap")
    return (level + amp * f / f.std()).astype(np.float32).clip(1.0)


@pytest.fixture(scope="module")
def abpn():
    return load_abpn(threads=1)


# --- the network (torch) -------------------------------------------------------------------

def test_deepcams_configuration_has_the_published_parameter_count():
    pytest.importorskip("torch")
    from airmap.models.abpn.net import ABPN, DEEPCAMS_CONFIG, count_parameters

    # 1,801,089 published minus 84,294 built-but-unused (down10, SA10, weight_down8)
    assert count_parameters(ABPN(**DEEPCAMS_CONFIG)) == 1_801_089 - 84_294


def test_projection_units_triple_and_restore_the_size():
    torch = pytest.importorskip("torch")

    from airmap.models.abpn.net import DownProjection, UpProjection

    x = torch.randn(1, 8, 7, 11)
    up = UpProjection(8, 5, 3, 1)(x)
    assert up.shape == (1, 8, 21, 33)
    assert DownProjection(8, 5, 3, 1)(up).shape == x.shape


def test_untrained_residual_free_model_is_bicubic_in_normalised_space():
    """With the residual convs zeroed (how training starts) the output is torch bicubic ×3."""
    torch = pytest.importorskip("torch")
    import torch.nn.functional as F

    from airmap.models.abpn.net import ABPN

    model = ABPN(n_up=3, dim=8).eval()
    for conv in (model.to_residual, model.refine_out):
        torch.nn.init.zeros_(conv.weight)
    x = torch.randn(1, 1, 9, 12)
    with torch.no_grad():
        ref = F.interpolate(x, scale_factor=3, mode="bicubic", align_corners=False)
        np.testing.assert_allclose(model(x).numpy(), ref.numpy(), atol=1e-5)


def test_shipped_onnx_agrees_with_torch():
    torch = pytest.importorskip("torch")

    from airmap.models.abpn.net import ABPN
    from airmap.models.onnx_weights import state_dict_from_onnx

    model = load_abpn(threads=1)
    net = ABPN(**model.card["config"]).eval()
    state_dict_from_onnx(DEFAULT_ABPN, net)
    rng = np.random.default_rng(3)
    x = np.stack([(smooth(rng, 30, 41) - 30) / 15])[:, None].astype(np.float32)
    with torch.no_grad():
        ref = net(torch.from_numpy(x)).numpy()
    out = model(x)
    assert out.shape == (1, 1, 90, 123)
    np.testing.assert_allclose(out, ref, atol=1e-3 * max(1.0, np.abs(ref).max()))


def test_card_describes_the_shipped_model(abpn):
    card = abpn.card
    assert card["task"] == "abpn" and card["scale_space"] == 3
    assert card["normalisation"]["kind"] == "log_or_affine_standard"
    assert card["tile"]["size"] >= 16 and card["parameters"] > 0
    assert card["deepcams_parameters"] == 1_716_795
    assert "simulator" in card["trained_on"]


# --- core/superres.py -------------------------------------------------------------------------

def test_shape_and_positivity(abpn):
    rng = np.random.default_rng(0)
    data = np.stack([smooth(rng, 20, 30), smooth(rng, 20, 30, level=5, amp=4)])
    out = super_resolve(data, abpn)
    assert out.shape == (2, 60, 90) and out.dtype == np.float32
    assert np.isfinite(out).all() and out.min() >= 0
    # each 3x3 block averages to its coarse cell (a downscaler, not a new field)
    blocks = out.reshape(2, 20, 3, 30, 3).mean(axis=(2, 4))
    np.testing.assert_allclose(blocks, data, rtol=1e-5)
    raw = super_resolve(data, abpn, conserve=False)
    assert not np.allclose(raw.reshape(2, 20, 3, 30, 3).mean(axis=(2, 4)), data, rtol=1e-5)
    assert np.abs(raw - out).mean() < 0.05 * np.abs(data).mean()   # a correction, not a new field


def test_block_mean_conservation_on_its_own():
    coarse = np.array([[4.0, 0.0], [2.0, 9.0]])
    fine = np.kron(np.array([[1.0, 0.0], [3.0, 0.0]]), np.ones((3, 3)))
    fine[0, 0] = 10.0                                   # a hotspot in the first block
    out = conserve_block_means(fine, coarse, non_negative=True)
    np.testing.assert_allclose(out.reshape(2, 3, 2, 3).mean(axis=(1, 3)), coarse, rtol=1e-6)
    assert out.min() >= 0 and out[0, 0] / out[0, 1] == pytest.approx(10.0)   # pattern kept
    np.testing.assert_allclose(out[3:, 3:], 9.0)        # all-zero block takes the coarse value
    signed = conserve_block_means(fine - 5.0, coarse - 5.0, non_negative=False)
    np.testing.assert_allclose(signed.reshape(2, 3, 2, 3).mean(axis=(1, 3)), coarse - 5.0, atol=1e-6)


def test_nodata_cells_stay_nodata_and_do_not_become_zero(abpn):
    rng = np.random.default_rng(1)
    data = smooth(rng, 24, 24)[None]
    data[0, 5:8, 10:14] = np.nan
    data[0, 0, 0] = np.nan
    out = super_resolve(data, abpn)
    hole = np.kron(~np.isfinite(data[0]), np.ones((3, 3), bool))
    assert np.isnan(out[0][hole]).all()
    assert np.isfinite(out[0][~hole]).all()
    assert out[0][~hole].min() > 0.5 * np.nanmin(data)   # no zeros leak around the hole


def test_all_nodata_band_stays_nodata(abpn):
    rng = np.random.default_rng(2)
    data = np.stack([smooth(rng, 16, 16), np.full((16, 16), np.nan, np.float32)])
    out = super_resolve(data, abpn)
    assert np.isnan(out[1]).all() and np.isfinite(out[0]).all()


def test_constant_field_stays_constant(abpn):
    out = super_resolve(np.full((1, 20, 20), 42.0, np.float32), abpn)
    np.testing.assert_allclose(out, 42.0, rtol=1e-3)


def test_negative_valued_fields_use_the_affine_branch(abpn):
    rng = np.random.default_rng(4)
    data = (smooth(rng, 18, 18) - 30)[None]          # anomalies around zero
    out = super_resolve(data, abpn)
    assert out.min() < 0 and np.isfinite(out).all()
    blocks = out.reshape(18, 3, 18, 3).mean(axis=(1, 3))
    np.testing.assert_allclose(blocks, data[0], atol=1e-4)


def test_tiled_equals_untiled_within_tolerance(abpn):
    rng = np.random.default_rng(5)
    data = smooth(rng, 40, 56, sigma=4)[None]
    whole = super_resolve(data, abpn, tile=64, overlap=0)        # one tile
    tiled = super_resolve(data, abpn, tile=24, overlap=6)        # 2 x 3 tiles
    assert np.abs(tiled - whole).max() < 0.05 * (data.max() - data.min())
    assert np.abs(tiled - whole).mean() < 0.005 * (data.max() - data.min())


def test_bad_input_and_bad_model_are_reported(abpn, tmp_path):
    with pytest.raises(AirmapInputError, match="no valid cells"):
        super_resolve(np.full((1, 8, 8), np.nan, np.float32), abpn)
    with pytest.raises(AirmapInputError, match="TILE"):
        super_resolve(np.ones((1, 8, 8), np.float32), abpn, tile=4)
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"not a model")
    with pytest.raises(ModelError):
        load_abpn(str(bad))
    with pytest.raises(ModelError, match="not abpn"):
        from airmap.core.frame_interp import DEFAULT_XVFI
        load_abpn(DEFAULT_XVFI)


def test_deterministic(abpn):
    rng = np.random.default_rng(6)
    data = smooth(rng, 16, 20)[None]
    np.testing.assert_array_equal(super_resolve(data, abpn), super_resolve(data, abpn))
