"""XVFI (extreme video frame interpolation) as DeepCAMS configured it for PM2.5 frames.

Written from the architecture facts (MODELS.md §3): one channel, ``nf`` = 64 features, module
scale M = 4, one pyramid level below the base (S = 1 for training and test), ReLU activations,
backward warping without the validity mask (DeepCAMS removed it).

    frames ─ shared feature extractor (3×3 conv, log2 M stride-2 convs, 3×3 conv, 2 res blocks)
           ─ features at H/M; one more shared stride-2 conv per pyramid level
    level S (coarsest): BiOF-I flows f01, f10 + reliability z from ``flow_bottom``
    level s < S: previous flows ×2 upsampled, features warped, residual flows from
                 ``flow_in`` + ``flow_mid``
    level 0 (synthesis): BiOF-T = complementary flow reversal (z-weighted Gaussian forward
           splatting of t·f01 and (1−t)·f10) → f_t0, f_t1, refined by ``flow_refine``;
           flows ×M upsampled, frames warped, RefineUNet → occlusion map + residual.

The forward splatting is written with ``scatter_add`` (out-of-range targets get weight 0), which
gives the same numbers as the original ``put_(accumulate=True)`` and exports to ONNX
(ScatterElements, reduction=add, opset ≥ 16). The [1,3,3] Conv3d layers of the original feature
extractor are written as Conv2d applied frame by frame: the same weights and the same
arithmetic, with an ONNX graph that needs no 5-D tensors.

``DEEPCAMS_CONFIG`` has 5,601,554 parameters, the count of DeepCAMS' model.
"""
from __future__ import annotations

import math
from typing import Dict, List, Optional, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F

DEEPCAMS_CONFIG: Dict[str, int] = {"channels": 1, "nf": 64, "scale": 4, "levels": 1}


def size_multiple(scale: int, levels: int) -> int:
    """Height and width must be multiples of this (DeepCAMS' ``divide`` = 2^S·M·4 = 32)."""
    return (2 ** levels) * scale * 4


# --- warping ---------------------------------------------------------------------------------

def _base_grid(h: int, w: int, like: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
    ys = torch.arange(h, dtype=like.dtype, device=like.device).view(1, h, 1)
    xs = torch.arange(w, dtype=like.dtype, device=like.device).view(1, 1, w)
    return xs, ys


def backward_warp(x: torch.Tensor, flow: torch.Tensor) -> torch.Tensor:
    """Sample ``x`` at (col + flow[:,0], row + flow[:,1]): bilinear, zeros outside,
    align_corners=True (grid normalised by W−1 and H−1), no validity mask."""
    h, w = x.shape[-2], x.shape[-1]
    xs, ys = _base_grid(h, w, flow)
    gx = (xs + flow[:, 0]) * (2.0 / max(w - 1, 1)) - 1.0
    gy = (ys + flow[:, 1]) * (2.0 / max(h - 1, 1)) - 1.0
    grid = torch.stack((gx, gy), dim=-1)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=True)


def gaussian_splat(values: torch.Tensor, flow: torch.Tensor, weight: torch.Tensor
                   ) -> Tuple[torch.Tensor, torch.Tensor]:
    """Forward-warp ``values`` (B, C, H, W) by ``flow`` (B, 2, H, W): every source pixel lands
    on the four cells around (col + dx, row + dy), each weighted by ``weight`` ×
    exp(−squared distance). Returns (Σ w·value, Σ w) per target cell, both (B, C, H, W).

    ``scatter_add`` with a zero weight for targets outside the frame replaces the original
    masked_select + put_(accumulate=True), which no ONNX exporter can translate."""
    b, c, h, w = values.shape
    xs, ys = _base_grid(h, w, flow)
    px = xs + flow[:, 0]            # (B, H, W) target column
    py = ys + flow[:, 1]            # target row
    x0, y0 = torch.floor(px), torch.floor(py)
    acc = torch.zeros(b, c, h * w, dtype=values.dtype, device=values.device)
    norm = torch.zeros(b, c, h * w, dtype=values.dtype, device=values.device)
    for dy in (0.0, 1.0):
        for dx in (0.0, 1.0):
            cx, cy = x0 + dx, y0 + dy
            inside = (cx >= 0) & (cx <= w - 1) & (cy >= 0) & (cy <= h - 1)
            wgt = weight[:, 0] * torch.exp(-((px - cx) ** 2 + (py - cy) ** 2)) * inside.to(values.dtype)
            index = (cy.clamp(0, h - 1) * w + cx.clamp(0, w - 1)).to(torch.int64)
            index = index.reshape(b, 1, h * w).expand(b, c, h * w)
            wgt = wgt.reshape(b, 1, h * w)
            acc = acc.scatter_add(2, index, (values.reshape(b, c, h * w) * wgt))
            norm = norm.scatter_add(2, index, wgt.expand(b, c, h * w))
    return acc.reshape(b, c, h, w), norm.reshape(b, c, h, w)


# --- building blocks --------------------------------------------------------------------------

def _hourglass(cin: int, nf: int, cout: int) -> nn.Sequential:
    """The flow estimator body used three times: two 4×4 stride-2 convs down, two nearest ×2
    + 3×3 convs back up, a 3×3 output conv."""
    return nn.Sequential(
        nn.Conv2d(cin, 2 * nf, 4, 2, 1), nn.ReLU(),
        nn.Conv2d(2 * nf, 4 * nf, 4, 2, 1), nn.ReLU(),
        nn.Upsample(scale_factor=2, mode="nearest"),
        nn.Conv2d(4 * nf, 2 * nf, 3, 1, 1), nn.ReLU(),
        nn.Upsample(scale_factor=2, mode="nearest"),
        nn.Conv2d(2 * nf, nf, 3, 1, 1), nn.ReLU(),
        nn.Conv2d(nf, cout, 3, 1, 1),
    )


class ResBlock(nn.Module):
    def __init__(self, nf: int):
        super().__init__()
        self.conv1 = nn.Conv2d(nf, nf, 3, 1, 1)
        self.conv2 = nn.Conv2d(nf, nf, 3, 1, 1)

    def forward(self, x):
        return x + self.conv2(F.relu(self.conv1(x)))


class DoubleResBlock(nn.Module):
    """Two residual blocks wrapped in a further skip (the original RResBlock2D_3D)."""

    def __init__(self, nf: int):
        super().__init__()
        self.block1 = ResBlock(nf)
        self.block2 = ResBlock(nf)

    def forward(self, x):
        return x + self.block2(self.block1(x))


class RefineUNet(nn.Module):
    """Three 4×4 stride-2 encoders, nearest-upsampling decoders with skips; outputs an occlusion
    logit and a ``channels``-channel residual at full resolution."""

    def __init__(self, nf: int, scale: int, channels: int):
        super().__init__()
        cin = (4 * nf) // (scale * scale) + 4 * channels + 4
        self.enc1 = nn.Conv2d(cin, nf, 4, 2, 1)
        self.enc2 = nn.Conv2d(nf, 2 * nf, 4, 2, 1)
        self.enc3 = nn.Conv2d(2 * nf, 4 * nf, 4, 2, 1)
        self.dec0 = nn.Conv2d(4 * nf, 4 * nf, 3, 1, 1)
        self.dec1 = nn.Conv2d(6 * nf, 2 * nf, 3, 1, 1)
        self.dec2 = nn.Conv2d(3 * nf, nf, 3, 1, 1)
        self.dec3 = nn.Conv2d(nf, 1 + channels, 3, 1, 1)

    def forward(self, x):
        e1 = F.relu(self.enc1(x))
        e2 = F.relu(self.enc2(e1))
        out = F.relu(self.enc3(e2))
        out = F.interpolate(F.relu(self.dec0(out)), scale_factor=2.0, mode="nearest")
        out = F.interpolate(F.relu(self.dec1(torch.cat((out, e2), 1))), scale_factor=2.0, mode="nearest")
        out = F.interpolate(F.relu(self.dec2(torch.cat((out, e1), 1))), scale_factor=2.0, mode="nearest")
        return self.dec3(out)


# --- the network ------------------------------------------------------------------------------

class XVFI(nn.Module):
    def __init__(self, channels: int = 1, nf: int = 64, scale: int = 4, levels: int = 1):
        super().__init__()
        if scale < 2 or scale & (scale - 1):
            raise ValueError("scale (M) must be a power of two >= 2")
        self.channels, self.nf, self.scale, self.levels = channels, nf, scale, levels
        # feature extractor (shared by both frames)
        self.feat_in = nn.Conv2d(channels, nf, 3, 1, 1)
        self.feat_down = nn.Conv2d(nf, nf, 3, 2, 1)          # shared, applied log2(M) times
        self.feat_out = nn.Conv2d(nf, nf, 3, 1, 1)
        self.feat_res = DoubleResBlock(nf)
        self.context_down = nn.Conv2d(nf, nf, 3, 2, 1)       # shared across pyramid levels
        # flow estimation (BiOF-I) and refinement (BiOF-T)
        self.flow_bottom = _hourglass(2 * nf, nf, 6)
        self.flow_in = nn.Conv2d(2 * nf, nf, 3, 1, 1)
        self.flow_mid = _hourglass(2 * nf + 4, nf, 6)
        self.flow_refine = nn.Sequential(nn.Conv2d(4 * nf + 4, nf, 1), nn.ReLU(), *_hourglass(nf, nf, 4))
        self.refine = RefineUNet(nf, scale, channels)
        extractor = {id(m) for m in (self.feat_in, self.feat_down, self.feat_out, self.context_down)}
        extractor |= {id(m) for m in self.feat_res.modules()}
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                if id(m) in extractor:      # the original's Conv3d layers: Kaiming
                    nn.init.kaiming_normal_(m.weight)
                else:                       # its Conv2d layers: Xavier
                    nn.init.xavier_normal_(m.weight)
                nn.init.zeros_(m.bias)

    # features of a (B*2, C, H, W) stack at H/M, then one more ×1/2 per level
    def features(self, frames: torch.Tensor) -> List[torch.Tensor]:
        f = F.relu(self.feat_in(frames))
        for _ in range(int(math.log2(self.scale))):
            f = F.relu(self.feat_down(f))
        f = self.feat_res(self.feat_out(f))
        pyramid = [f]
        for _ in range(self.levels):
            f = self.context_down(f)
            pyramid.append(f)
        return pyramid

    def _flows(self, f0, f1, prev: Optional[torch.Tensor]) -> Tuple[torch.Tensor, torch.Tensor]:
        """BiOF-I at one level: (flows f01|f10 (B,4,h,w), raw head output (B,6,h,w))."""
        if prev is None:
            raw = self.flow_bottom(torch.cat((f0, f1), 1))
            return raw[:, :4], raw
        up = 2.0 * F.interpolate(prev.detach(), scale_factor=2.0, mode="bilinear", align_corners=False)
        w1 = backward_warp(f1, up[:, :2])
        w0 = backward_warp(f0, up[:, 2:])
        raw = self.flow_mid(torch.cat((self.flow_in(torch.cat((f0, w1), 1)),
                                       self.flow_in(torch.cat((f1, w0), 1)), up), 1))
        return raw[:, :4] + up, raw

    def _synthesise(self, x0, x1, f0, f1, flow, raw, t):
        """BiOF-T + warping + RefineUNet at one level. ``t`` is (B, 1, 1, 1)."""
        flow01, flow10 = flow[:, :2], flow[:, 2:4]
        z01, z10 = torch.sigmoid(raw[:, 4:5]), torch.sigmoid(raw[:, 5:6])
        # complementary flow reversal: splat the flows themselves to time t
        fwd, norm0 = gaussian_splat(flow01, t * flow01, z01 + 1e-5)
        bwd, norm1 = gaussian_splat(flow10, (1 - t) * flow10, z10 + 1e-5)
        ft0 = -(1 - t) * t * fwd + t * t * bwd
        ft1 = (1 - t) * (1 - t) * fwd - t * (1 - t) * bwd
        norm = (1 - t) * norm0 + t * norm1
        hit = (norm.detach() > 0).to(norm.dtype)
        ft0 = (1 - hit) * ft0 + hit * ft0 / (norm + (1 - hit))
        ft1 = (1 - hit) * ft1 + hit * ft1 / (norm + (1 - hit))
        w0, w1 = backward_warp(f0, ft0), backward_warp(f1, ft1)
        refined = self.flow_refine(torch.cat((f0, w0, w1, f1, ft0, ft1), 1)) + torch.cat((ft0, ft1), 1)
        ft0, ft1 = refined[:, :2], refined[:, 2:4]
        w0, w1 = backward_warp(f0, ft0), backward_warp(f1, ft1)
        m = self.scale
        ft0_full = m * F.interpolate(ft0, scale_factor=float(m), mode="bilinear", align_corners=False)
        ft1_full = m * F.interpolate(ft1, scale_factor=float(m), mode="bilinear", align_corners=False)
        img0, img1 = backward_warp(x0, ft0_full), backward_warp(x1, ft1_full)
        shuffled = F.pixel_shuffle(torch.cat((f0, f1, w0, w1), 1), m)
        r = self.refine(torch.cat((shuffled, x0, x1, img0, img1, ft0_full, ft1_full), 1))
        occ0 = torch.sigmoid(r[:, :1])
        occ1 = 1 - occ0
        out = ((1 - t) * occ0 * img0 + t * occ1 * img1) / ((1 - t) * occ0 + t * occ1)
        return out + r[:, 1:1 + self.channels], refined, occ0

    def _split(self, frames: torch.Tensor):
        """(B, 2C, H, W) [frame0 | frame1] -> features of both, per level."""
        b, c2, h, w = frames.shape
        c = c2 // 2
        stacked = torch.cat((frames[:, :c], frames[:, c:]), 0)
        pyramid = self.features(stacked)
        return [(p[:b], p[b:]) for p in pyramid], frames[:, :c], frames[:, c:]

    def forward(self, frames: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """Inference: ``frames`` (B, 2·C, H, W) = [frame at 0 | frame at 1], ``t`` (B, 1) in
        (0, 1) -> frame at t (B, C, H, W). H and W must be multiples of ``size_multiple``."""
        t = t.reshape(-1, 1, 1, 1)
        pyramid, x0, x1 = self._split(frames)
        flow = None
        for level in range(self.levels, 0, -1):   # coarse levels estimate flow only
            flow, _ = self._flows(*pyramid[level], flow)
        flow, raw = self._flows(*pyramid[0], flow)
        out, _, _ = self._synthesise(x0, x1, *pyramid[0], flow, raw, t)
        return out

    def forward_train(self, frames: torch.Tensor, t: torch.Tensor):
        """Training pass (S_trn = ``levels``): the frame at t synthesised at the coarsest level
        (inputs bicubic-downscaled ×2^S) and at level 0, plus the refined flows of each.
        Returns ([out_0, out_S], [flows_0, flows_S])."""
        t = t.reshape(-1, 1, 1, 1)
        pyramid, x0, x1 = self._split(frames)
        s = self.levels
        h, w = x0.shape[-2:]
        size = (h // 2 ** s, w // 2 ** s)
        x0s = F.interpolate(x0, size=size, mode="bicubic", align_corners=False)
        x1s = F.interpolate(x1, size=size, mode="bicubic", align_corners=False)
        flow, raw = self._flows(*pyramid[s], None)
        out_s, refined_s, _ = self._synthesise(x0s, x1s, *pyramid[s], flow, raw, t)
        for level in range(s - 1, 0, -1):
            flow, _ = self._flows(*pyramid[level], flow)
        flow, raw = self._flows(*pyramid[0], flow)
        out_0, refined_0, _ = self._synthesise(x0, x1, *pyramid[0], flow, raw, t)
        return [out_0, out_s], [refined_0[:, :4], refined_s[:, :4]]


def edge_aware_smoothness(flow: torch.Tensor, image: torch.Tensor, weight: float) -> torch.Tensor:
    """First-order flow smoothness, down-weighted across image edges:
    mean(exp(−weight²·(∂image)²)·|∂flow|) over both axes, halved (XVFI / DeepCAMS)."""
    gh = torch.mean((image[:, :, 1:] - image[:, :, :-1]) ** 2, 1, keepdim=True)
    gw = torch.mean((image[:, :, :, 1:] - image[:, :, :, :-1]) ** 2, 1, keepdim=True)
    fh = torch.abs(flow[:, :, 1:] - flow[:, :, :-1])
    fw = torch.abs(flow[:, :, :, 1:] - flow[:, :, :, :-1])
    w2 = weight ** 2
    return 0.5 * (torch.mean(torch.exp(-w2 * gh) * fh) + torch.mean(torch.exp(-w2 * gw) * fw))


def build(config: Dict[str, int]) -> XVFI:
    return XVFI(**config)


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
