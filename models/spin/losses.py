"""SPIN's composite loss: inference (hidden nodes) + initialisation + the AOD gradient term.

AOD is never an input: where a satellite AOD field is given, the spatial differences of the
estimate between neighbouring nodes are pulled towards those of the AOD (both standardised
over the window, since AOD and PM2.5 have different units), so the map's gradients follow the
satellite's while its level follows the stations.
"""
from __future__ import annotations

import torch


def masked_l1(pred: torch.Tensor, truth: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """Mean |pred - truth| over the entries where ``weight`` is 1 (truth NaN-free there)."""
    total = weight.sum().clamp_min(1.0)
    return (torch.abs(pred - torch.nan_to_num(truth)) * weight).sum() / total


def _standardised(x: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
    n = valid.sum(dim=1, keepdim=True).clamp_min(1.0)
    mean = (x * valid).sum(dim=1, keepdim=True) / n
    var = (((x - mean) * valid) ** 2).sum(dim=1, keepdim=True) / n
    return (x - mean) / (var.sqrt() + 1e-6)


def aod_gradient_loss(estimate: torch.Tensor, aod: torch.Tensor, neighbours: torch.Tensor) -> torch.Tensor:
    """Mean |(e_i - e_j) - (a_i - a_j)| of standardised estimate e and AOD a over neighbouring
    pairs (``neighbours`` (B, N, N) > 0) where both nodes have AOD. estimate/aod: (B, N, T)."""
    valid = torch.isfinite(aod).float()
    a = _standardised(torch.nan_to_num(aod), valid)
    e = _standardised(estimate, valid)
    de = e.unsqueeze(2) - e.unsqueeze(1)           # (B, N, N, T)
    da = a.unsqueeze(2) - a.unsqueeze(1)
    pair = (neighbours > 0).float().unsqueeze(-1) * valid.unsqueeze(2) * valid.unsqueeze(1)
    return (torch.abs(de - da) * pair).sum() / pair.sum().clamp_min(1.0)


def spin_loss(estimate, first, truth, hidden, init_weight: float = 0.5, aod=None, neighbours=None,
              aod_weight: float = 0.1) -> torch.Tensor:
    """Inference L1 at hidden measured nodes + ``init_weight`` x the initialisation head's L1
    there (+ ``aod_weight`` x the AOD gradient term when AOD is given)."""
    weight = hidden * torch.isfinite(truth).float()
    loss = masked_l1(estimate, truth, weight) + init_weight * masked_l1(first, truth, weight)
    if aod is not None:
        loss = loss + aod_weight * aod_gradient_loss(estimate, aod, neighbours)
    return loss
