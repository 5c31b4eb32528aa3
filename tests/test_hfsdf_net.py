"""HF-SDF torch room: the network matches the public code's structure, the forward-mode
derivatives match autograd, the ONNX graph matches torch, and single-map fitting works."""
import math

import numpy as np
import onnxruntime as ort
import pytest

torch = pytest.importorskip("torch")  # the optional training backend
import torch.nn.functional as F

from airmap.core.grid import Grid
from airmap.core.hfsdf import Observations, reconstruct
from airmap.core.hfsdf.decoder import OnnxDecoder
from airmap.core.onnx_runtime import load_model
from airmap.models.hfsdf.card import build_card
from airmap.models.hfsdf.export import export_onnx
from airmap.models.hfsdf.losses import coded_loss, single_map_eikonal_loss, single_map_height_loss
from airmap.models.hfsdf.net import ImplicitNet, NetConfig, count_parameters, paper_config

torch.set_num_threads(1)


def reference_forward(net, latent, xyz):
    """The public code's forward: concat(latent, xyz), re-concatenated before the skip layer / sqrt 2."""
    cfg = net.config
    inp = torch.cat([latent.expand(len(xyz), -1), xyz], 1) if cfg.latent_dim else xyz
    x = inp
    for i, lin in enumerate(net.layers):
        if i in cfg.skip:
            x = torch.cat([x, inp], -1) / math.sqrt(2)
        x = lin(x)
        if i < len(net.layers) - 1:
            x = F.softplus(x, beta=cfg.beta)
    return x[:, 0]


def test_paper_network_structure():
    net = ImplicitNet(paper_config())
    assert count_parameters(net) == 1_839_358               # measured on the public code
    assert net.layers[0].in_features == 259 and net.layers[3].out_features == 512 - 259
    assert net.layers[4].in_features == 512 and len(net.layers) == 9
    assert net.layers[-1].bias.item() == -1.0               # geometric init


def test_geometric_init_is_a_sphere_sdf():
    torch.manual_seed(0)
    net = ImplicitNet(NetConfig(latent_dim=0, width=256))
    p = torch.randn(200, 3)
    p = p / p.norm(dim=1, keepdim=True) * torch.empty(200, 1).uniform_(0.3, 1.5)
    with torch.no_grad():
        f = net(None, p)
    assert torch.corrcoef(torch.stack([f, p.norm(dim=1) - 1]))[0, 1] > 0.95


@pytest.mark.parametrize("latent_dim", [0, 16])
def test_tangents_and_jacobians_match_autograd(latent_dim):
    torch.manual_seed(1)
    net = ImplicitNet(NetConfig(latent_dim=latent_dim, width=48)).double()
    lat = torch.randn(latent_dim, dtype=torch.double) * 0.2 if latent_dim else None
    xyz = torch.rand(9, 3, dtype=torch.double) * 2 - 1
    assert torch.allclose(net(lat, xyz), reference_forward(net, lat, xyz), atol=1e-12)
    x2 = xyz.clone().requires_grad_(True)
    grad = torch.autograd.grad(reference_forward(net, lat, x2).sum(), x2)[0]
    _, fz = net.value_and_dz(lat, xyz)
    assert torch.allclose(fz, grad[:, 2], atol=1e-7)
    if latent_dim:
        _, _, J, Jz = net.jacobian(lat, xyz)
        J_ref = torch.autograd.functional.jacobian(lambda l: reference_forward(net, l, xyz), lat)

        def dfdz(l):
            x = xyz.clone().requires_grad_(True)
            return torch.autograd.grad(reference_forward(net, l, x).sum(), x, create_graph=True)[0][:, 2]

        Jz_ref = torch.autograd.functional.jacobian(dfdz, lat)
        assert torch.allclose(J, J_ref, atol=1e-7)
        assert torch.allclose(Jz, Jz_ref, atol=1e-6)


def test_onnx_graph_matches_torch(tmp_path):
    torch.manual_seed(2)
    net = ImplicitNet(NetConfig(latent_dim=8, width=32))
    card = build_card(net, {"labels": [], "sim_seeds": [], "size": 0}, 0, 0.0)
    path = export_onnx(net, str(tmp_path / "h.onnx"), card)
    dec = OnnxDecoder(load_model(path, task="hfsdf", device="cpu"))
    assert dec.latent_dim == 8
    lat = np.random.default_rng(0).normal(0, 0.1, 8).astype(np.float32)
    pts = np.random.default_rng(1).uniform(-1, 1, (300, 3)).astype(np.float32)
    with torch.no_grad():
        t = [a.numpy() for a in net.jacobian(torch.from_numpy(lat), torch.from_numpy(pts))]
    assert np.allclose(dec.value(lat, pts), t[0], atol=1e-5)
    f, fz = dec.value_and_dz(lat, pts)
    assert np.allclose(fz, t[1], atol=1e-4)
    f, fz, J, Jz = dec.jacobian(lat, pts)
    assert np.allclose(J, t[2], atol=1e-4) and np.allclose(Jz, t[3], atol=1e-3)
    names = [o.name for o in ort.InferenceSession(path).get_outputs()]
    assert names == ["value", "value_dz", "dfdz", "value_jac", "dfdz_jac", "jac_value", "jac_dfdz"]


def test_losses_are_finite_and_trainable():
    torch.manual_seed(3)
    rng = np.random.default_rng(3)
    net = ImplicitNet(NetConfig(latent_dim=4, width=32))
    lat = torch.zeros(2, 4, requires_grad=True)
    surf = rng.uniform(-1, 1, (2, 64, 3)).astype(np.float32)
    loss, parts = coded_loss(net, lat, surf, rng)
    loss.backward()
    assert math.isfinite(loss.item()) and set(parts) >= {"manifold", "bias", "grad", "latent"}
    assert lat.grad is not None and lat.grad.abs().sum() > 0
    single = ImplicitNet(NetConfig(latent_dim=0, width=32))
    for fn in (lambda: single_map_height_loss(single, surf[0], rng),
               lambda: single_map_eikonal_loss(single, surf[0], np.full(64, 0.05), rng)):
        value, _ = fn()
        value.backward()
        assert math.isfinite(value.item())


def test_single_map_mode_reconstructs_a_bump():
    grid = Grid.from_extent(0, 0, 100, 100, 10.0)            # 10 x 10 coarse
    gx, gy = grid.cell_centres()
    bump = lambda x, y: 20 + 30 * np.exp(-((x - 40) ** 2 + (y - 60) ** 2) / 800)
    obs = Observations.from_raster(bump(gx, gy), grid)
    fine = Grid.from_extent(0, 0, 100, 100, 2.5)             # 40 x 40
    res = reconstruct(obs, fine, mode="single-map", single_map_iterations=300, single_map_width=48,
                      confidence=True)
    fx, fy = fine.cell_centres()
    truth = bump(fx, fy)
    assert res.values.shape == (40, 40) and res.confidence.shape == (40, 40)
    assert np.corrcoef(res.values.ravel(), truth.ravel())[0, 1] > 0.97
    # observations honoured: read at the coarse cell centres
    at_obs = reconstruct(obs, grid, mode="single-map", single_map_iterations=300, single_map_width=48)
    assert np.sqrt(np.mean((at_obs.values - bump(gx, gy)) ** 2)) < 0.05 * 30
