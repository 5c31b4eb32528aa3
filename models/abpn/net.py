"""ABPN (attention-based back-projection network) as DeepCAMS configured it for ×3 PM2.5.

Written from the architecture facts (MODELS.md §2): one input channel, 32 features, up/down
projection kernel 5 / stride 3 / padding 1 (a transposed conv gives exactly 3H, the strided conv
gives H back), PReLU everywhere, Kaiming init.

    x ─ head (3×3 conv → self-attention → 3×3 conv) ─ feat
    BP1: up1 = Up(feat);  down1 = CrossAtt(feat, Down(up1))
    BP2: up2 = Up(down1); down2 = CrossAtt(down1, Down(up2))
    BPk: upk = Up(down_{k-1}) + 1×1(up_{k-2});  downk = CrossAtt(1×1(down_{k-2}), Down(upk))
    last: up_n = Up(down_{n-1}) + 1×1(up_{n-2})            (no final down block)
    SR  = conv3×3( [1×1→3×3](cat up_1..n) + Up([1×1](cat down_1..n-1)) ) + bicubic×3(x)
    RBPB: SR += bicubic×3( conv(att(conv( x − bicubic÷3(SR) ))) )

``n_up`` = 10 is DeepCAMS' ``ABPN_v5(input_dim=1, dim=32)`` (1,716,795 parameters: the
published 1,801,089 minus the 84,294 that the original builds but never calls — down10, SA10,
weight_down8 — which are left out here). Smaller ``n_up``/``dim`` give the reduced
configurations that can be trained on a CPU; see README.md for what is shipped.
"""
from __future__ import annotations

from typing import Dict

import torch
import torch.nn as nn
import torch.nn.functional as F

DEEPCAMS_CONFIG: Dict[str, int] = {"channels": 1, "dim": 32, "n_up": 10, "kernel": 5, "stride": 3, "padding": 1}


def conv_act(cin: int, cout: int, k: int, s: int = 1, p: int = 0) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, k, s, p), nn.PReLU())


def deconv_act(cin: int, cout: int, k: int, s: int, p: int) -> nn.Sequential:
    return nn.Sequential(nn.ConvTranspose2d(cin, cout, k, s, p), nn.PReLU())


class UpProjection(nn.Module):
    """Enhanced up-projection: deconv to HR, conv back to LR, deconv the LR residual, plus
    1×1 'local weights' on the input and on the first HR estimate."""

    def __init__(self, dim: int, k: int, s: int, p: int):
        super().__init__()
        self.up1 = deconv_act(dim, dim, k, s, p)
        self.down = conv_act(dim, dim, k, s, p)
        self.up2 = deconv_act(dim, dim, k, s, p)
        self.weight_in = conv_act(dim, dim, 1)
        self.weight_hr = conv_act(dim, dim, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        hr = self.up1(x)
        residual = self.weight_in(x) - self.down(hr)
        return self.weight_hr(hr) + self.up2(residual)


class DownProjection(nn.Module):
    """Enhanced down-projection: the mirror image of ``UpProjection``."""

    def __init__(self, dim: int, k: int, s: int, p: int):
        super().__init__()
        self.down1 = conv_act(dim, dim, k, s, p)
        self.up = deconv_act(dim, dim, k, s, p)
        self.down2 = conv_act(dim, dim, k, s, p)
        self.weight_in = conv_act(dim, dim, 1)
        self.weight_lr = conv_act(dim, dim, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        lr = self.down1(x)
        residual = self.weight_in(x) - self.up(lr)
        return self.weight_lr(lr) + self.down2(residual)


class Attention(nn.Module):
    """Non-local attention over all H·W positions: keys and queries from ``guide``, values from
    ``x``; weight[i, j] = softmax_j(k_i · q_j) (no 1/√d scaling, as in ABPN); output
    x + 1×1(Σ_j weight[i, j] v_j). With guide = x it is ABPN's spatial attention block; with
    guide = the previous LR features it is the cross ('time') attention after each down block.
    Memory is quadratic in H·W, which is why inference is tiled."""

    def __init__(self, dim: int):
        super().__init__()
        self.key = nn.Conv2d(dim, dim, 1)
        self.query = nn.Conv2d(dim, dim, 1)
        self.value = nn.Conv2d(dim, dim, 1)
        self.out = nn.Conv2d(dim, dim, 1)

    def forward(self, guide: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        b, c = x.shape[0], x.shape[1]
        k = self.key(guide).flatten(2).transpose(1, 2)      # (B, HW, C)
        q = self.query(guide).flatten(2)                    # (B, C, HW)
        v = self.value(x).flatten(2).transpose(1, 2)        # (B, HW, C)
        weight = torch.softmax(torch.bmm(k, q), dim=-1)     # (B, HW, HW)
        o = torch.bmm(weight, v).transpose(1, 2).reshape(b, c, x.shape[2], x.shape[3])
        return x + self.out(o)


def bicubic(x: torch.Tensor, size) -> torch.Tensor:
    """torch bicubic (a = -0.75, half-pixel centres, clamped edges) to an explicit size, so
    the ÷3 step maps exactly onto 3×3 blocks and the ONNX graph keeps dynamic shapes."""
    return F.interpolate(x, size=size, mode="bicubic", align_corners=False)


class ABPN(nn.Module):
    def __init__(self, channels: int = 1, dim: int = 32, n_up: int = 10, kernel: int = 5,
                 stride: int = 3, padding: int = 1):
        super().__init__()
        if n_up < 3:
            raise ValueError("ABPN needs at least 3 up-projection blocks (dense skips reach back two)")
        self.scale = stride
        self.n_up = n_up
        k, s, p = kernel, stride, padding
        # feature extraction with a self-attention block
        self.head_in = conv_act(channels, 2 * dim, 3, 1, 1)
        self.head_att = Attention(2 * dim)
        self.head_out = conv_act(2 * dim, dim, 3, 1, 1)
        # back-projection chain
        self.ups = nn.ModuleList(UpProjection(dim, k, s, p) for _ in range(n_up))
        self.downs = nn.ModuleList(DownProjection(dim, k, s, p) for _ in range(n_up - 1))
        self.cross = nn.ModuleList(Attention(dim) for _ in range(n_up - 1))
        self.skip_up = nn.ModuleList(conv_act(dim, dim, 1) for _ in range(n_up - 2))
        self.skip_down = nn.ModuleList(conv_act(dim, dim, 1) for _ in range(n_up - 3))
        # reconstruction from all HR and all LR features
        self.hr_fuse = conv_act(n_up * dim, dim, 1)
        self.hr_conv = conv_act(dim, dim, 3, 1, 1)
        self.lr_fuse = conv_act((n_up - 1) * dim, dim, 1)
        self.lr_up = UpProjection(dim, k, s, p)
        self.to_residual = nn.Conv2d(dim, channels, 3, 1, 1)
        # residual back-projection refinement (RBPB)
        self.refine_in = conv_act(channels, 2 * dim, 3, 1, 1)
        self.refine_att = Attention(2 * dim)
        self.refine_out = nn.Conv2d(2 * dim, channels, 3, 1, 1)
        for m in self.modules():
            if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
                nn.init.kaiming_normal_(m.weight)
                nn.init.zeros_(m.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[-2], x.shape[-1]
        hr_size = (h * self.scale, w * self.scale)
        feat = self.head_in(x)
        feat = self.head_att(feat, feat)
        feat = self.head_out(feat)

        ups, downs = [], []
        lr = feat
        for i in range(self.n_up):
            up = self.ups[i](lr)
            if i >= 2:
                up = up + self.skip_up[i - 2](ups[i - 2])
            ups.append(up)
            if i == self.n_up - 1:
                break
            guide = feat if i == 0 else (downs[0] if i == 1 else self.skip_down[i - 2](downs[i - 2]))
            lr = self.cross[i](guide, self.downs[i](up))
            downs.append(lr)

        hr_feat = self.hr_conv(self.hr_fuse(torch.cat(ups, 1)))
        lr_feat = self.lr_up(self.lr_fuse(torch.cat(downs, 1)))
        sr = bicubic(x, hr_size) + self.to_residual(hr_feat + lr_feat)

        back = x - bicubic(sr, (h, w))
        back = self.refine_in(back)
        back = self.refine_att(back, back)
        back = self.refine_out(back)
        return sr + bicubic(back, hr_size)


def build(config: Dict[str, int]) -> ABPN:
    return ABPN(**config)


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
