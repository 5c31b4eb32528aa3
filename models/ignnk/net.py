"""IGNNK (Wu et al., AAAI 2021): three diffusion graph convolutions h -> z -> z -> h over a
window of h time steps taken as node features; the last layer is linear, the middle one has a
residual. The support is built at run time from the node coordinates (inductive)."""
from __future__ import annotations

import torch
from torch import nn


class DiffusionConv(nn.Module):
    """Concatenate x, A x and 2 A (A x) - x (the diffusion recursion) and mix them linearly."""

    def __init__(self, inp: int, out: int):
        super().__init__()
        self.mix = nn.Linear(3 * inp, out)

    def forward(self, x, a):  # x (B, N, F), a (B, N, N)
        x1 = a @ x
        x2 = 2 * (a @ x1) - x
        return self.mix(torch.cat([x, x1, x2], -1))


class IGNNK(nn.Module):
    def __init__(self, window: int = 24, hidden: int = 100):
        super().__init__()
        self.window = window
        self.gc1 = DiffusionConv(window, hidden)
        self.gc2 = DiffusionConv(hidden, hidden)
        self.gc3 = DiffusionConv(hidden, window)

    def forward(self, x, a):
        """x (B, N, window) normalised values, 0 where unknown; a (B, N, N). -> (B, N, window)."""
        h1 = torch.relu(self.gc1(x, a))
        h2 = torch.relu(self.gc2(h1, a)) + h1
        return self.gc3(h2, a)
