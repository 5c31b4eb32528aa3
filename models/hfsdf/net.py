"""The HF-SDF decoder: an IGR-style implicit MLP f(latent, x, y, z) whose zero level set is the
concentration map lifted into (x, y, concentration) space.

Paper configuration (public code, shapespace/dfaust_setup.conf): 8 hidden layers of 512,
Softplus(beta=100), the input (latent + xyz) re-concatenated before hidden layer 4 and the sum
scaled by 1/sqrt(2), IGR geometric initialisation (last bias -1), no weight norm, no dropout.
``paper_config()`` builds exactly that; the shipped coded model uses ``shipped_config()`` (see
README.md for why it is smaller).

Besides the plain forward pass this module computes, with explicit tangent and adjoint
propagation written as ordinary matmuls, the derivative df/dz along the height axis and the
Jacobians of f and df/dz with respect to the latent. Those are what the numpy latent fitting
and the per-pixel root finding need, and because they are plain operations they export to
ONNX (autograd does not).
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Tuple

import torch
from torch import nn
import torch.nn.functional as F


@dataclass(frozen=True)
class NetConfig:
    latent_dim: int = 256   # 0 = single-map network (no latent)
    width: int = 512
    depth: int = 8          # hidden layers
    skip: Tuple[int, ...] = (4,)  # layer indices whose input is re-concatenated with the net input
    beta: float = 100.0     # Softplus sharpness
    radius_init: float = 1.0

    def to_dict(self) -> dict:
        d = asdict(self)
        d["skip"] = list(self.skip)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "NetConfig":
        d = dict(d)
        d["skip"] = tuple(d.get("skip", (4,)))
        return cls(**d)


def paper_config() -> NetConfig:
    """The public code's coded network: 256-d latent, 8 x 512, skip at 4 (1,839,358 params)."""
    return NetConfig(latent_dim=256, width=512, depth=8, skip=(4,))


def shipped_config() -> NetConfig:
    """What the shipped ONNX model uses: trainable on one CPU thread in ~30 min (README.md)."""
    return NetConfig(latent_dim=64, width=128, depth=8, skip=(4,))


class ImplicitNet(nn.Module):
    """f(latent, xyz) -> signed height distance. ``latent`` is (L,) shared by all points or
    (N, L) per point; ``xyz`` is (N, 3) in the normalised cube."""

    def __init__(self, config: NetConfig = NetConfig()):
        super().__init__()
        self.config = config
        d_in = config.latent_dim + 3
        dims = [d_in] + [config.width] * config.depth + [1]
        self.n_linear = len(dims) - 1
        layers = []
        for i in range(self.n_linear):
            # The layer feeding a skip shrinks so that concat(h, input) has `width` features.
            out_dim = dims[i + 1] - d_in if (i + 1) in config.skip else dims[i + 1]
            if out_dim < 1:
                raise ValueError(f"width {config.width} too small for a skip with {d_in} inputs")
            lin = nn.Linear(dims[i], out_dim)
            if i == self.n_linear - 1:
                # Geometric init: f starts as |p| - radius (a sphere SDF), as in IGR.
                nn.init.normal_(lin.weight, mean=math.sqrt(math.pi) / math.sqrt(dims[i]), std=1e-5)
                nn.init.constant_(lin.bias, -config.radius_init)
            else:
                nn.init.constant_(lin.bias, 0.0)
                nn.init.normal_(lin.weight, 0.0, math.sqrt(2.0) / math.sqrt(out_dim))
            layers.append(lin)
        self.layers = nn.ModuleList(layers)

    # --- helpers ----------------------------------------------------------------------------
    @property
    def latent_dim(self) -> int:
        return self.config.latent_dim

    def _split(self, i: int):
        """Weight of linear layer i split into (hidden part, latent part, xyz part).

        Layer 0 has no hidden part; a skip layer sees concat(h, latent, xyz)/sqrt(2)."""
        w = self.layers[i].weight
        L = self.latent_dim
        if i == 0:
            return None, w[:, :L], w[:, L:]
        if i in self.config.skip:
            n_h = w.shape[1] - L - 3
            s = 1.0 / math.sqrt(2.0)
            return w[:, :n_h] * s, w[:, n_h:n_h + L] * s, w[:, n_h + L:] * s
        return w, None, None

    def _input_term(self, i: int, latent, xyz):
        """Contribution of the raw input (latent, xyz) to the pre-activation of layer i."""
        _, w_lat, w_xyz = self._split(i)
        term = xyz @ w_xyz.t()
        if self.latent_dim:
            term = term + latent @ w_lat.t()  # (out,) or (N, out): broadcasts either way
        return term

    def _act(self, a):
        return F.softplus(a, beta=self.config.beta)

    def _act_d1(self, a):
        return torch.sigmoid(self.config.beta * a)

    def _act_d2(self, s):
        """Second derivative of the softplus, from its first derivative s = sigmoid(beta a)."""
        return self.config.beta * s * (1.0 - s)

    def _check(self, latent, xyz):
        if self.latent_dim and latent is None:
            raise ValueError("this network needs a latent code")
        if not self.latent_dim:
            latent = None
        return latent

    # --- evaluations --------------------------------------------------------------------------
    def forward(self, latent, xyz):
        """f at each point, shape (N,)."""
        latent = self._check(latent, xyz)
        h = None
        for i, lin in enumerate(self.layers):
            w_h, _, _ = self._split(i)
            a = self._input_term(i, latent, xyz) if (i == 0 or i in self.config.skip) else 0.0
            if h is not None:
                a = a + h @ w_h.t()
            a = a + lin.bias
            h = self._act(a) if i < self.n_linear - 1 else a
        return h[:, 0]

    def value_and_dz(self, latent, xyz):
        """(f, df/dz) by propagating the tangent of the height coordinate alongside the values."""
        latent = self._check(latent, xyz)
        h = hz = None
        for i, lin in enumerate(self.layers):
            w_h, _, w_xyz = self._split(i)
            if i == 0 or i in self.config.skip:
                a = self._input_term(i, latent, xyz)
                az = w_xyz[:, 2]
                if h is not None:
                    a = a + h @ w_h.t()
                    az = az + hz @ w_h.t()
            else:
                a = h @ w_h.t()
                az = hz @ w_h.t()
            a = a + lin.bias
            if i < self.n_linear - 1:
                s = self._act_d1(a)
                h, hz = self._act(a), s * az
            else:
                h, hz = a, az
        return h[:, 0], hz.expand_as(h)[:, 0]

    def jacobian(self, latent, xyz):
        """(f, df/dz, df/dlatent (N, L), d(df/dz)/dlatent (N, L)) for one latent (L,).

        Reverse mode: one forward pass carrying the height tangent, then two backward sweeps
        written as plain matmuls (so they export to ONNX): the adjoint of f, and the adjoint of
        df/dz through both the values and the height tangent (that is where the softplus's
        second derivative enters). The latent enters only the input and skip layers, so each
        sweep collects its latent gradient there. Cost ~5 forward passes per point whatever L
        is, against ~2L for carrying L latent tangents forward."""
        if not self.latent_dim:
            raise ValueError("a single-map network has no latent")
        last = self.n_linear - 1
        # forward: pre-activations a_i, their height tangents az_i, slopes s_i = sigma'(a_i)
        h = hz = None
        pre, pre_z, slope = [], [], []
        for i, lin in enumerate(self.layers):
            w_h, _, w_xyz = self._split(i)
            if i == 0 or i in self.config.skip:
                a = self._input_term(i, latent, xyz)
                az = w_xyz[:, 2].expand_as(a)
                if h is not None:
                    a = a + h @ w_h.t()
                    az = az + hz @ w_h.t()
            else:
                a, az = h @ w_h.t(), hz @ w_h.t()
            a = a + lin.bias
            pre.append(a)
            pre_z.append(az)
            if i < last:
                s = self._act_d1(a)
                slope.append(s)
                h, hz = self._act(a), s * az
        n = xyz.shape[0]
        f, fz = pre[last][:, 0], pre_z[last][:, 0]
        # backward sweeps. g: adjoint of f w.r.t. a_i. p, q: adjoints of df/dz w.r.t. az_i, a_i.
        g = torch.ones_like(pre[last])
        p = torch.ones_like(pre[last])
        q = torch.zeros_like(pre[last])
        jac_f = jac_fz = None
        for i in range(last, -1, -1):
            w_h, w_lat, _ = self._split(i)
            if i == 0 or i in self.config.skip:
                jf, jfz = g @ w_lat, q @ w_lat          # a_i depends on the latent, az_i does not
                jac_f = jf if jac_f is None else jac_f + jf
                jac_fz = jfz if jac_fz is None else jac_fz + jfz
            if i == 0:
                break
            s = slope[i - 1]
            gh, ph, qh = g @ w_h, p @ w_h, q @ w_h        # adjoints of h_{i-1} / hz_{i-1}
            g = gh * s
            q = qh * s + ph * pre_z[i - 1] * self._act_d2(s)
            p = ph * s
        return f, fz, jac_f.expand(n, -1), jac_fz.expand(n, -1)


def count_parameters(net: nn.Module) -> int:
    return sum(p.numel() for p in net.parameters())


def input_gradient(net: ImplicitNet, latent, xyz):
    """Full spatial gradient of f by autograd (training-only: single-map eikonal loss, tests)."""
    xyz = xyz.requires_grad_(True) if not xyz.requires_grad else xyz
    f = net(latent, xyz)
    (g,) = torch.autograd.grad(f.sum(), xyz, create_graph=True)
    return f, g
