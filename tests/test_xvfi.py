"""Issue 4: XVFI ×3 in time — the network, ONNX-exportable splatting, core/frame_interp.py."""
import numpy as np
import pytest

from airmap.core.errors import AirmapInputError
from airmap.core.frame_interp import DEFAULT_XVFI, interpolate_frames, interpolate_pair, load_xvfi
from airmap.core.normalise import fit_normaliser


def smooth(rng, h, w, sigma=3.0, level=30.0, amp=15.0):
    from scipy.ndimage import gaussian_filter

    f = gaussian_filter(rng.standard_normal((h, w)), sigma, mode="wrap")
    return (level + amp * f / f.std()).astype(np.float32).clip(1.0)


@pytest.fixture(scope="module")
def xvfi():
    return load_xvfi(threads=1)


# --- the network (torch) -------------------------------------------------------------------

def test_deepcams_configuration_parameter_count():
    pytest.importorskip("torch")
    from airmap.models.xvfi.net import DEEPCAMS_CONFIG, XVFI, count_parameters, size_multiple

    # 5,601,554 published minus RefineUNet's conv1/conv2 (2 x 36,928), built but never called
    assert count_parameters(XVFI(**DEEPCAMS_CONFIG)) == 5_601_554 - 2 * 36_928
    assert size_multiple(4, 1) == 32   # DeepCAMS' 'divide'


def _naive_splat(values, flow, weight):
    """Loop version of the original put_(accumulate=True) forward warping."""
    b, c, h, w = values.shape
    acc = np.zeros_like(values, dtype=np.float64)
    norm = np.zeros_like(values, dtype=np.float64)
    for n in range(b):
        for r in range(h):
            for q in range(w):
                px, py = q + flow[n, 0, r, q], r + flow[n, 1, r, q]
                for cy in (np.floor(py), np.floor(py) + 1):
                    for cx in (np.floor(px), np.floor(px) + 1):
                        if 0 <= cx < w and 0 <= cy < h:
                            g = weight[n, 0, r, q] * np.exp(-((px - cx) ** 2 + (py - cy) ** 2))
                            acc[n, :, int(cy), int(cx)] += g * values[n, :, r, q]
                            norm[n, :, int(cy), int(cx)] += g
    return acc, norm


def test_scatter_add_splatting_matches_the_accumulating_original():
    torch = pytest.importorskip("torch")

    from airmap.models.xvfi.net import gaussian_splat

    rng = np.random.default_rng(0)
    values = rng.standard_normal((2, 2, 6, 7)).astype(np.float32)
    flow = (rng.standard_normal((2, 2, 6, 7)) * 3).astype(np.float32)   # some land outside
    weight = rng.uniform(0, 1, (2, 1, 6, 7)).astype(np.float32)
    acc, norm = gaussian_splat(torch.from_numpy(values), torch.from_numpy(flow), torch.from_numpy(weight))
    ref_acc, ref_norm = _naive_splat(values, flow, weight)
    np.testing.assert_allclose(acc.numpy(), ref_acc, atol=1e-5)
    np.testing.assert_allclose(norm.numpy(), ref_norm, atol=1e-5)


def test_zero_flow_warp_is_identity_and_shift_moves_content():
    torch = pytest.importorskip("torch")

    from airmap.models.xvfi.net import backward_warp

    x = torch.arange(30.0).reshape(1, 1, 5, 6)
    np.testing.assert_allclose(backward_warp(x, torch.zeros(1, 2, 5, 6)).numpy(), x.numpy(), atol=1e-5)
    shifted = backward_warp(x, torch.ones(1, 2, 5, 6) * torch.tensor([1.0, 0.0]).view(1, 2, 1, 1))
    np.testing.assert_allclose(shifted[0, 0, :, :-1].numpy(), x[0, 0, :, 1:].numpy(), atol=1e-5)


def test_zero_initialised_heads_give_linear_interpolation():
    """How training starts: zero flows, occlusion 1/2, no residual -> (1-t) x0 + t x1, any t."""
    torch = pytest.importorskip("torch")

    from airmap.models.xvfi.net import XVFI

    model = XVFI(nf=8).eval()
    for conv in (model.flow_bottom[-1], model.flow_mid[-1], model.flow_refine[-1], model.refine.dec3):
        torch.nn.init.zeros_(conv.weight)
        torch.nn.init.zeros_(conv.bias)
    frames = torch.randn(3, 2, 32, 64)
    t = torch.tensor([[0.2], [0.5], [0.9]])
    with torch.no_grad():
        out = model(frames, t)
    ref = (1 - t.view(3, 1, 1, 1)) * frames[:, :1] + t.view(3, 1, 1, 1) * frames[:, 1:]
    np.testing.assert_allclose(out.numpy(), ref.numpy(), atol=1e-4)


def test_shipped_onnx_agrees_with_torch_at_any_size_and_t():
    torch = pytest.importorskip("torch")

    from airmap.models.onnx_weights import state_dict_from_onnx
    from airmap.models.xvfi.export import moving_pair
    from airmap.models.xvfi.net import XVFI

    model = load_xvfi(threads=1)
    net = XVFI(**model.card["config"]).eval()
    state_dict_from_onnx(DEFAULT_XVFI, net)
    rng = np.random.default_rng(1)
    for (h, w), t in (((64, 96), 0.25), ((96, 64), 0.8)):
        frames = moving_pair(rng, h, w)[None]
        tt = np.array([[t]], np.float32)
        with torch.no_grad():
            ref = net(torch.from_numpy(frames), torch.from_numpy(tt)).numpy()
        out = model(frames, tt)
        assert out.shape == (1, 1, h, w)
        np.testing.assert_allclose(out, ref, atol=1e-3 * max(1.0, np.abs(ref).max()))


def test_card(xvfi):
    card = xvfi.card
    assert card["task"] == "xvfi" and card["scale_time"] == 3 and card["size_multiple"] == 32
    assert card["deepcams_parameters"] == 5_527_698 and card["parameters"] > 0


# --- core/frame_interp.py ---------------------------------------------------------------------

def test_band_count_and_input_frames_pass_through(xvfi):
    rng = np.random.default_rng(2)
    data = np.stack([smooth(rng, 33, 49) for _ in range(4)])         # ERA5-UK size: not a multiple of 32
    out = interpolate_frames(data, xvfi)
    assert out.shape == (10, 33, 49)
    np.testing.assert_array_equal(out[::3], data)
    assert np.isfinite(out).all() and out.min() >= 0


def test_inserted_frames_lie_between_their_neighbours(xvfi):
    rng = np.random.default_rng(3)
    a = smooth(rng, 32, 32)
    b = a * 1.5
    out = interpolate_frames(np.stack([a, b]), xvfi)
    m1, m2 = out[1].mean(), out[2].mean()
    assert a.mean() < m1 < m2 < b.mean()


def test_any_t_in_the_open_interval(xvfi):
    rng = np.random.default_rng(4)
    n = fit_normaliser(np.stack([smooth(rng, 32, 32)]))
    z0 = n.forward(smooth(rng, 32, 32))
    out = interpolate_pair(z0, z0, [0.1, 0.5, 0.95], xvfi)
    assert out.shape == (3, 32, 32)
    np.testing.assert_allclose(out, np.repeat(z0[None], 3, 0), atol=0.05 * np.abs(z0).max())
    with pytest.raises(AirmapInputError, match="between 0 and 1"):
        interpolate_pair(z0, z0, [1.0], xvfi)


def test_nodata_in_either_neighbour_stays_nodata(xvfi):
    rng = np.random.default_rng(5)
    data = np.stack([smooth(rng, 32, 40) for _ in range(3)])
    data[1, 4:9, 6:12] = np.nan
    out = interpolate_frames(data, xvfi)
    for k in (1, 2, 3, 4, 5):                # frames on both sides of the gappy frame 1 (index 3)
        assert np.isnan(out[k, 4:9, 6:12]).all()
    assert np.isfinite(out[[1, 2, 4, 5]][:, 20:, 20:]).all()
    assert np.nanmin(out) > 0.5                # NaN never turned into zeros around the hole


def test_constant_stack_stays_constant(xvfi):
    out = interpolate_frames(np.full((3, 32, 32), 7.5, np.float32), xvfi)
    np.testing.assert_allclose(out, 7.5, rtol=1e-3)


def test_tiled_equals_untiled_within_tolerance(xvfi):
    rng = np.random.default_rng(6)
    data = np.stack([smooth(rng, 64, 96, sigma=5), smooth(rng, 64, 96, sigma=5)])
    whole = interpolate_frames(data, xvfi, tile=128, overlap=0)
    tiled = interpolate_frames(data, xvfi, tile=64, overlap=16)
    spread = data.max() - data.min()
    assert np.abs(tiled - whole).mean() < 0.01 * spread
    assert np.abs(tiled - whole).max() < 0.15 * spread


def test_bad_input(xvfi):
    with pytest.raises(AirmapInputError, match="at least 2 bands"):
        interpolate_frames(np.ones((1, 32, 32), np.float32), xvfi)
    with pytest.raises(AirmapInputError, match="TILE"):
        interpolate_frames(np.ones((2, 32, 32), np.float32), xvfi, tile=16)
    with pytest.raises(AirmapInputError, match="no valid cells"):
        interpolate_frames(np.full((2, 32, 32), np.nan, np.float32), xvfi)
