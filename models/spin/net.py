"""SPIN: a temporal convolutional encoder per node, then graph layers with two parallel
kernels, diffusion (distance) and advection (wind), summed (arXiv 2511.16013).

Shapes: B windows, N nodes, T hours. Inputs are normalised values (0 where not observed),
the observation mask, the wind (u, v in m/s) at each node, and the (B, T, N, N) supports
built by ``core.timeseries.graphs`` at run time, so the network is inductive: any node set.
"""
from __future__ import annotations

import torch
from torch import nn

WIND_SCALE = 5.0  # m/s: wind features of order one


class TemporalBlock(nn.Module):
    """Non-causal dilated convolution over time with a residual: kriging may use later hours."""

    def __init__(self, channels: int, dilation: int):
        super().__init__()
        self.conv = nn.Conv1d(channels, channels, 3, padding=dilation, dilation=dilation)
        self.mix = nn.Conv1d(channels, channels, 1)

    def forward(self, x):
        return x + self.mix(torch.relu(self.conv(x)))


class TCN(nn.Module):
    def __init__(self, features: int, channels: int, dilations):
        super().__init__()
        self.inp = nn.Conv1d(features, channels, 1)
        self.blocks = nn.Sequential(*[TemporalBlock(channels, d) for d in dilations])

    def forward(self, x):  # (M, F, T) -> (M, C, T)
        return self.blocks(self.inp(x))


class KernelLayer(nn.Module):
    """H <- H + relu(A_D H W_D + A_A H W_A + H W_S): diffusion and advection in parallel
    (+ sum_k A_Dk H W_Dk over the narrower diffusion supports, when given)."""

    def __init__(self, channels: int, narrower: int = 0):
        super().__init__()
        self.diffusion = nn.Linear(channels, channels)
        self.advection = nn.Linear(channels, channels, bias=False)
        self.self_loop = nn.Linear(channels, channels, bias=False)
        self.narrower = nn.ModuleList([nn.Linear(channels, channels, bias=False) for _ in range(narrower)])

    def forward(self, h, a_diff, a_adv, narrower=()):  # h (B, T, N, C), supports (B, T, N, N)
        x = self.diffusion(a_diff @ h) + self.advection(a_adv @ h) + self.self_loop(h)
        for w, a in zip(self.narrower, narrower):
            x = x + w(a @ h)
        return h + torch.relu(x)


def sharpened(a_diff, power: float):
    """The diffusion support of a Gaussian sigma / sqrt(power) wide, from the support itself:
    (K_ij o_j / sum_k K_ik o_k) ** p, renormalised per row, is exp(-p (d/sigma)^2) over the same
    senders, so a narrower kernel needs no extra ONNX input."""
    w = a_diff ** power
    total = w.sum(dim=-1, keepdim=True)
    return w / torch.where(total > 0, total, torch.ones_like(total))


class SPIN(nn.Module):
    FEATURES = 5  # initial estimate, observed flag, advected estimate, u, v (+ one spread per extra scale)

    def __init__(self, channels: int = 32, dilations=(1, 2, 4), layers: int = 2, sharpen=(),
                 sharpen_layers: bool = False):
        super().__init__()
        self.sharpen = tuple(float(p) for p in sharpen)
        self.sharpen_layers = bool(sharpen_layers)   # the graph layers also propagate over the narrower supports
        self.tcn = TCN(self.FEATURES + len(self.sharpen), channels, tuple(dilations))
        extra = len(self.sharpen) if self.sharpen_layers else 0
        self.kernels = nn.ModuleList([KernelLayer(channels, extra) for _ in range(layers)])
        self.out = nn.Sequential(nn.Linear(channels, channels), nn.ReLU(), nn.Linear(channels, 1))

    def encode(self, value, observed, wind, a_diff, a_adv):
        """(initialisation (B, N, T), TCN states (B, T, N, C)). The initialisation is the
        observation where there is one, else the diffusion-weighted mean of the observed nodes."""
        b, n, t = value.shape
        v_t = value.transpose(1, 2).unsqueeze(-1)                      # (B, T, N, 1)
        spread = (a_diff @ v_t).squeeze(-1).transpose(1, 2)            # neighbours' mean (B, N, T)
        carried = (a_adv @ v_t).squeeze(-1).transpose(1, 2)            # upwind-weighted
        init = observed * value + (1 - observed) * spread
        narrower = [observed * value + (1 - observed) * (sharpened(a_diff, p) @ v_t).squeeze(-1).transpose(1, 2)
                    for p in self.sharpen]                             # the same mean over closer stations
        feats = torch.stack([init, observed, carried, wind[..., 0] / WIND_SCALE, wind[..., 1] / WIND_SCALE]
                            + narrower, 2)
        h = self.tcn(feats.reshape(b * n, feats.shape[2], t))          # (B*N, C, T)
        return init, h.reshape(b, n, -1, t).permute(0, 3, 1, 2)

    def decode(self, init, h, a_diff, a_adv):
        narrower = [sharpened(a_diff, p) for p in self.sharpen] if self.sharpen_layers else []
        for layer in self.kernels:
            h = layer(h, a_diff, a_adv, narrower)
        return self.out(h).squeeze(-1).permute(0, 2, 1) + init

    def forward(self, value, observed, wind, a_diff, a_adv):
        """value, observed (B, N, T); wind (B, N, T, 2); a_diff, a_adv (B, T, N, N) -> (B, N, T)
        normalised estimate."""
        init, h = self.encode(value, observed, wind, a_diff, a_adv)
        return self.decode(init, h, a_diff, a_adv)


class InitHead(nn.Module):
    """Training only: an MLP on the TCN states that must already infer the hidden nodes (the
    initialisation loss), so the encoder learns the series before the graph layers refine it."""

    def __init__(self, channels: int = 32):
        super().__init__()
        self.mlp = nn.Sequential(nn.Linear(channels, channels), nn.ReLU(), nn.Linear(channels, 1))

    def forward(self, init, h):
        return self.mlp(h).squeeze(-1).permute(0, 2, 1) + init
