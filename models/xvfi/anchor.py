"""Linear-anchored XVFI: ``linear + w * (network - linear)``, with the weight ``w`` carried
across the interval gap of self-supervised fine-tuning.

Self-supervised fine-tuning learns ×3 one level up (frames 3 steps apart, e.g. 9-hourly ->
3-hourly) and is applied at the stack's own interval. What linear interpolation misses shrinks
fast with the interval (for a smooth signal like the square of it), so the network's
correction, right in size one level up, may over-correct one level down. The weight that
minimises the squared error of ``linear + w * c`` (c = network - linear, e = truth - linear) is

    w = corr(e, c) * rms(e) / rms(c)

and each factor is estimated at the level where it is used, from the user's stack alone:
- ``corr(e, c)`` on the held-back windows one level up (the only level with a truth);
- ``rms(c)`` by running the network at the stack's own interval (no truth needed);
- ``rms(e)`` at the stack's own interval from a power law ``rms(e) ~ a * gap^p`` fitted to the
  linear-interpolation error of the stack at gaps 2-5 of its own steps (curvature-normalised by
  t(1 - t)), extrapolated to gap 1.
With true pairs (REFERENCE) the training level is the application level and ``w`` is the least-
squares weight on the held-back windows.
"""
from __future__ import annotations

from typing import Dict, Sequence

import numpy as np
import torch

GAPS = (2, 3, 4, 5)


class LinearAnchored(torch.nn.Module):
    """``frames`` (B, 2, H, W), ``t`` (B, 1) -> ``(1 - t) f0 + t f1 + w * (net - linear)``: the
    graph the fine-tuned ONNX file holds (its weights keep the plain network's names under
    ``net.``, so it can be fine-tuned again)."""

    def __init__(self, net: torch.nn.Module, weight: float):
        super().__init__()
        self.net = net
        self.weight = float(weight)
        self.scale, self.levels = net.scale, net.levels     # what the exporter reads

    def forward(self, frames: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        tt = t.view(-1, 1, 1, 1)
        linear = (1 - tt) * frames[:, :1] + tt * frames[:, 1:2]
        return linear + self.weight * (self.net(frames, t) - linear)


def linear_error_power_law(stack: np.ndarray, gaps: Sequence[int] = GAPS) -> Dict[str, float]:
    """Fit ``rms(e / (t (1 - t))) = a * gap^p`` to linear interpolation across ``gap`` steps of
    ``stack`` (T, H, W); gaps the stack is too short for are skipped."""
    pts = []
    for gap in gaps:
        n = (stack.shape[0] - 1) // gap * gap + 1
        if n < gap + 1:
            continue
        s = stack[:n]
        errs = []
        for j in range(1, gap):
            t = j / gap
            e = (s[j:n - gap + j:gap] - ((1 - t) * s[0:n - gap:gap] + t * s[gap::gap])) / (t * (1 - t))
            errs.append(e[np.isfinite(e)])
        e = np.concatenate(errs)
        if e.size:
            pts.append((gap, float(np.sqrt(np.mean(e ** 2)))))
    if len(pts) < 2 or min(v for _, v in pts) <= 0:
        return {}
    p, log_a = np.polyfit(np.log([g for g, _ in pts]), np.log([v for _, v in pts]), 1)
    return {"a": float(np.exp(log_a)), "p": float(p), "gaps": [g for g, _ in pts]}


def anchor_weight(truth_up: np.ndarray, linear_up: np.ndarray, net_up: np.ndarray, linear_down: np.ndarray,
                  net_down: np.ndarray, law: Dict[str, float], ts: Sequence[float], same_level: bool) -> dict:
    """The weight ``w`` in [0, 1] and the figures it came from (for the card).

    ``*_up``: held-back frames where the truth is known; ``*_down``: the network and linear at
    the level the model is applied (``same_level``: the two are the same level, REFERENCE)."""
    ok = np.isfinite(truth_up) & np.isfinite(linear_up) & np.isfinite(net_up)
    e, c = (truth_up - linear_up)[ok].astype(np.float64), (net_up - linear_up)[ok].astype(np.float64)
    if same_level or not law:
        w = float(np.sum(e * c) / np.sum(c * c)) if np.sum(c * c) > 0 else 0.0
        return {"weight": float(np.clip(w, 0.0, 1.0)), "rule": "least squares on the held-back windows"}
    corr = float(np.corrcoef(e, c)[0, 1]) if e.std() > 0 and c.std() > 0 else 0.0
    cd = (net_down - linear_down).astype(np.float64)
    rms_c = float(np.sqrt(np.mean(cd[np.isfinite(cd)] ** 2)))
    curv = float(np.mean([t * (1 - t) for t in ts]))
    rms_e = law["a"] * curv            # gap 1: the stack's own interval
    w = corr * rms_e / rms_c if rms_c > 0 else 0.0
    return {"weight": float(np.clip(w, 0.0, 1.0)), "rule": "corr(held-back, one level up) x rms(linear error, "
            "power law at the stack's interval) / rms(network correction at the stack's interval)",
            "corr_up": round(corr, 4), "rms_linear_error_down": round(rms_e, 6), "rms_correction_down": round(rms_c, 6),
            "power_law": {k: (round(v, 4) if isinstance(v, float) else v) for k, v in law.items()}}
