"""PointConv (normalised convolution of station grids) + regression UNet++ in one torch module.

Input: one tensor ``x`` (N, C, H, W) laid out by ``core.pointconv.channel_names(variant)``:
for every station variable a (value, mask) pair of sparse grids (value 0 and mask 0 where the
cell has no station), then every covariate as a (value, present) pair. H and W must be
multiples of 16 (four 2x2 poolings); ``core.pointconv`` pads to that before calling.

The module is plain convolutions, divisions and concatenations, so it exports to ONNX as is.
"""
from __future__ import annotations

import math
from typing import List, Sequence

import torch
from torch import nn
from torch.nn import functional as F

# UNet++ reference (Nest_Net): filters and depth. The shipped model uses a reduced width,
# see README.md; ``filters`` is a constructor argument so the full net stays one call away.
REFERENCE_FILTERS = (32, 64, 128, 256, 512)
EPS = 1e-5  # the paper's normalised-convolution epsilon: Conv(w, x) / (Conv(w, mask) + 1e-5)


def _gaussian(size: int, sigma: float) -> torch.Tensor:
    r = torch.arange(size, dtype=torch.float32) - (size - 1) / 2
    g = torch.exp(-(r[:, None] ** 2 + r[None, :] ** 2) / (2 * sigma ** 2))
    return g / g.max()


class PointConv(nn.Module):
    """Two successive normalised convolutions per variable (kernel ``k1`` then ``k2``), summed.

    Step 1 spreads each variable's isolated station values: f1 = Conv(w1, x*m) / (Conv(w1, m) + eps).
    Its confidence c1 = d1 / (d1 + 1), d1 = Conv(w1, m) (a weighted count of stations in
    reach: 0 where none, 1/2 for one station at the kernel's peak), is the mask of step 2:
    f2 = Conv(w2, f1*c1) / (Conv(w2, c1) + eps). The output per variable is f1 + f2 (the paper
    sums the two steps) and the step-2 confidence c2, which tells the UNet++ where no station
    reached (f = 0 there: "no data", not "zero concentration").

    Kernels are learnable, one pair per variable (depthwise convolutions), kept positive
    (softplus) so the denominator is a true weight sum, and symmetrised over the 8 rotations
    and reflections of the square so the spreading has no preferred grid axis.
    """

    def __init__(self, variables: int, k1: int = 21, k2: int = 11):
        super().__init__()
        self.variables = variables
        self.k1, self.k2 = k1, k2
        self.raw1 = nn.Parameter(self._init_raw(variables, k1, sigma=k1 / 4))
        self.raw2 = nn.Parameter(self._init_raw(variables, k2, sigma=k2 / 4))

    @staticmethod
    def _init_raw(variables: int, size: int, sigma: float) -> torch.Tensor:
        w = _gaussian(size, sigma).clamp_min(1e-3)
        raw = torch.log(torch.expm1(w))  # inverse softplus
        return raw.expand(variables, 1, size, size).clone()

    @staticmethod
    def _symmetric_positive(raw: torch.Tensor) -> torch.Tensor:
        w = F.softplus(raw)
        t = w.transpose(-1, -2)
        d4 = [w, w.flip(-1), w.flip(-2), w.flip(-1).flip(-2), t, t.flip(-1), t.flip(-2), t.flip(-1).flip(-2)]
        return torch.stack(d4).mean(0)

    def kernels(self):
        return self._symmetric_positive(self.raw1), self._symmetric_positive(self.raw2)

    def _normconv(self, x: torch.Tensor, m: torch.Tensor, w: torch.Tensor):
        pad = w.shape[-1] // 2
        num = F.conv2d(x * m, w, padding=pad, groups=self.variables)
        den = F.conv2d(m, w, padding=pad, groups=self.variables)
        return num / (den + EPS), den

    def forward(self, values: torch.Tensor, masks: torch.Tensor):
        """values, masks: (N, V, H, W) -> fields (N, V, H, W), confidences (N, V, H, W)."""
        w1, w2 = self.kernels()
        f1, d1 = self._normconv(values, masks, w1)
        c1 = d1 / (d1 + 1.0)
        f2, d2 = self._normconv(f1, c1, w2)
        c2 = d2 / (d2 + 1.0)
        return f1 + f2, c2


class ConvBlock(nn.Sequential):
    """A UNet++ node: 2 x (3x3 conv + ReLU), He-normal init, optional dropout."""

    def __init__(self, cin: int, cout: int, dropout: float = 0.0):
        layers: List[nn.Module] = []
        for c in (cin, cout):
            conv = nn.Conv2d(c, cout, 3, padding=1)
            nn.init.kaiming_normal_(conv.weight, nonlinearity="relu")
            nn.init.zeros_(conv.bias)
            layers += [conv, nn.ReLU(inplace=True)]
            if dropout > 0:
                layers.append(nn.Dropout2d(dropout))
        super().__init__(*layers)


class UNetPlusPlus(nn.Module):
    """Regression UNet++ (nested dense skips, depth 4, transposed-conv upsampling).

    Node X[i][j] (level i, column j) = ConvBlock(cat(X[i][0..j-1], up(X[i+1][j-1]))).
    Four 1x1 heads on X[0][1..4] with a ReLU (concentrations are non-negative); ``forward``
    returns all four in training (deep supervision) and the deepest one otherwise.
    """

    def __init__(self, in_channels: int, filters: Sequence[int] = REFERENCE_FILTERS, dropout: float = 0.0):
        super().__init__()
        f = list(filters)
        self.depth = len(f) - 1
        self.nodes = nn.ModuleDict()
        self.ups = nn.ModuleDict()
        for i in range(self.depth + 1):
            self.nodes[f"{i}_0"] = ConvBlock(in_channels if i == 0 else f[i - 1], f[i], dropout)
        for j in range(1, self.depth + 1):
            for i in range(self.depth + 1 - j):
                self.ups[f"{i}_{j}"] = nn.ConvTranspose2d(f[i + 1], f[i], 2, stride=2)
                self.nodes[f"{i}_{j}"] = ConvBlock(f[i] * (j + 1), f[i], dropout)
        self.heads = nn.ModuleList(nn.Conv2d(f[0], 1, 1) for _ in range(self.depth))
        for head in self.heads:
            # Start every head in the ReLU's active range, near the normalised mean (1.0): a head
            # that starts negative somewhere gets no gradient there and can stay dead (seen as a
            # zero column at the grid edge in a first training run).
            nn.init.normal_(head.weight, std=1e-3)
            nn.init.constant_(head.bias, 1.0)

    def forward(self, x: torch.Tensor):
        grid = [[None] * (self.depth + 1) for _ in range(self.depth + 1)]
        for i in range(self.depth + 1):
            grid[i][0] = self.nodes[f"{i}_0"](x if i == 0 else F.max_pool2d(grid[i - 1][0], 2))
        for j in range(1, self.depth + 1):
            for i in range(self.depth + 1 - j):
                up = self.ups[f"{i}_{j}"](grid[i + 1][j - 1])
                grid[i][j] = self.nodes[f"{i}_{j}"](torch.cat(grid[i][:j] + [up], dim=1))
        outs = [F.relu(head(grid[0][j + 1])) for j, head in enumerate(self.heads)]
        return outs if self.training else outs[-1]


class PointConvUNetPP(nn.Module):
    """The whole seed-004 network: PointConv per station variable, then UNet++ on the stack.

    Channel layout of ``x`` (see core.pointconv): ``variables`` (value, mask) pairs, then
    ``covariates`` (value, present) pairs. The UNet++ sees, per variable, the PointConv field
    and its confidence; for PM2.5 (variable 0) also the raw station grid and mask, so cells
    with a station can keep their value; and the covariates with their presence flags.
    """

    def __init__(self, variables: int, covariates: int, filters: Sequence[int] = REFERENCE_FILTERS,
                 k1: int = 21, k2: int = 11, dropout: float = 0.0):
        super().__init__()
        self.variables, self.covariates = variables, covariates
        self.filters = list(filters)
        self.pointconv = PointConv(variables, k1, k2)
        in_ch = 2 * variables + 2 + 2 * covariates
        self.unet = UNetPlusPlus(in_ch, filters, dropout)

    def forward(self, x: torch.Tensor):
        v = self.variables
        values, masks = x[:, 0:2 * v:2], x[:, 1:2 * v:2]
        fields, conf = self.pointconv(values, masks)
        stack = [fields, conf, x[:, 0:2], x[:, 2 * v:]]
        return self.unet(torch.cat(stack, dim=1))


def count_parameters(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


if __name__ == "__main__":  # quick size report
    for scale in (1, 4):
        filt = [c // scale for c in REFERENCE_FILTERS]
        print(filt, count_parameters(UNetPlusPlus(1, filt)), count_parameters(PointConvUNetPP(3, 2, filt)))
