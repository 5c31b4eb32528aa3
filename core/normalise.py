"""The one normalisation used by the DeepCAMS networks (ABPN, XVFI), at training AND inference.

DeepCAMS scaled PM2.5 by a fixed constant (clip to [0, 800], divide by 800). That cannot carry
over to reanalyses of other magnitudes (ERA5 2 m temperature in kelvin, a pollutant in ppb), so
airmap standardises each *input* with statistics of that input:

* non-negative inputs (concentrations, temperatures in K; round-off negatives down to
  -1e-6 × max|x| count as zero): ``z = (log(x + c) - mu) / sigma``
  with ``c = offset_rel_median * median(x > 0)``. The log compresses hotspots (CAMS PM2.5 runs
  from 0.01 to 3,600 µg/m³) so a network trained on simulated fields sees a familiar range, and
  the inverse ``exp`` can never give a negative concentration. Bicubic in log space also beats
  bicubic in linear space on the CAMS self-similarity test (11.4 vs 13.0 µg/m³ RMSE), so the
  residual networks start from a better base.
* inputs with negative values (anomalies, °C), or any input when the card says
  ``log: never`` (XVFI: blending frames is additive, and linear interpolation in log space
  loses to linear interpolation in linear space on simulated PM2.5): ``z = (x - mu) / sigma``.

``mu``/``sigma`` are the mean/std over the whole input (all bands, NaN ignored), so every tile
of a large raster is normalised identically (no seams) and all frames of a time stack share one
scale (XVFI compares frames). ``sigma`` has a floor, so a constant field maps to zeros and comes
back as the same constant.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Dict, Iterable, Mapping, Optional

import numpy as np

from .errors import AirmapInputError

KIND = "log_or_affine_standard"
DEFAULTS: Dict[str, Any] = {
    "kind": KIND,
    "log": "if_non_negative",   # or "never": always the affine branch (XVFI: see its README)
    "offset_rel_median": 0.1,   # c = 0.1 x median of the positive values
    "min_sigma_log": 1e-4,      # floor of sigma in log space (0.01 % relative variation)
    "min_sigma_rel": 1e-6,      # affine branch: floor relative to |mu|
    "negative_tolerance_rel": 1e-6,  # values above -1e-6 x max|x| count as non-negative
    "statistics": "mean and std over the whole input stack (all bands), NaN ignored",
}


@dataclass(frozen=True)
class Normaliser:
    """An invertible per-input standardisation; ``forward`` and ``inverse`` keep NaN as NaN."""

    log: bool
    offset: float
    mu: float
    sigma: float
    non_negative: bool = False   # the input had no negative values: neither will the output

    def forward(self, x: np.ndarray) -> np.ndarray:
        x = np.asarray(x, dtype=np.float64)
        if self.log:
            with np.errstate(invalid="ignore", divide="ignore"):
                y = np.log(np.maximum(x, 0.0) + self.offset)
        else:
            y = x
        return ((y - self.mu) / self.sigma).astype(np.float32)

    def inverse(self, z: np.ndarray) -> np.ndarray:
        y = np.asarray(z, dtype=np.float64) * self.sigma + self.mu
        if self.log:
            # exp overflows past ~709: clip far beyond any physical value first
            y = np.exp(np.minimum(y, 700.0)) - self.offset
        if self.non_negative:
            y = np.maximum(y, 0.0)  # concentrations stay >= 0
        return y.astype(np.float32)

    def as_dict(self) -> Dict[str, Any]:
        return {"log": self.log, "offset": self.offset, "mu": self.mu, "sigma": self.sigma,
                "non_negative": self.non_negative}


def _params(card_normalisation: Optional[Mapping[str, Any]]) -> Dict[str, Any]:
    params = dict(DEFAULTS)
    if card_normalisation:
        kind = card_normalisation.get("kind", KIND)
        if kind != KIND:
            raise AirmapInputError(f"The model uses normalisation '{kind}', which this airmap "
                                   f"does not know (it knows '{KIND}'): update the plugin.")
        params.update({k: v for k, v in card_normalisation.items() if k in DEFAULTS})
    return params


def fit_normaliser(data: np.ndarray, card_normalisation: Optional[Mapping[str, Any]] = None) -> Normaliser:
    """Statistics of ``data`` (any shape, NaN = no data) under the card's parameters."""
    p = _params(card_normalisation)
    values = np.asarray(data, dtype=np.float64)
    values = values[np.isfinite(values)]
    if values.size == 0:
        raise AirmapInputError(NO_DATA)
    non_negative = _non_negative(p, values.min(), np.abs(values).max())
    if non_negative and p["log"] == "if_non_negative":
        positive = values[values > 0]
        offset = _offset(p, float(np.median(positive)) if positive.size else None)
        logs = np.log(values + offset)
        return _build(p, True, offset, float(logs.mean()), float(logs.std()), True)
    return _build(p, False, 0.0, float(values.mean()), float(values.std()), non_negative)


def fit_normaliser_streamed(blocks: Callable[[], Iterable[np.ndarray]],
                            card_normalisation: Optional[Mapping[str, Any]] = None) -> Normaliser:
    """``fit_normaliser`` of the concatenation of the arrays ``blocks()`` yields, computed in
    a few passes that each hold one block (raster windows of any total size).

    The median of the positive values is exact (a two-pass radix selection on the float32 bit
    patterns, which order as the values do for positive floats); means and standard deviations
    are summed block by block in float64, so they match the whole-array statistics to round-off.
    """
    p = _params(card_normalisation)
    count, positive, total = 0, 0, 0.0
    low, high_abs = np.inf, 0.0
    coarse = np.zeros(1 << 16, dtype=np.int64)     # positive values by the top 16 bits
    for block in blocks():
        values = _finite32(block)
        if values.size == 0:
            continue
        count += values.size
        total += float(values.astype(np.float64).sum())
        low = min(low, float(values.min()))
        high_abs = max(high_abs, float(np.abs(values).max()))
        bits = values[values > 0].view(np.uint32)
        positive += bits.size
        coarse += np.bincount(bits >> 16, minlength=1 << 16)
    if count == 0:
        raise AirmapInputError(NO_DATA)
    non_negative = _non_negative(p, low, high_abs)
    if non_negative and p["log"] == "if_non_negative":
        median = _streamed_median(blocks, coarse, positive) if positive else None
        offset = _offset(p, median)
        log_of = lambda v: np.log(v.astype(np.float64) + offset)
        mu = _streamed_sum(blocks, log_of) / count
        sigma = np.sqrt(_streamed_sum(blocks, lambda v: (log_of(v) - mu) ** 2) / count)
        return _build(p, True, offset, mu, float(sigma), True)
    mu = total / count
    sigma = np.sqrt(_streamed_sum(blocks, lambda v: (v.astype(np.float64) - mu) ** 2) / count)
    return _build(p, False, 0.0, mu, float(sigma), non_negative)


NO_DATA = "The input holds no valid cells (all no-data): choose another raster or band."


def _finite32(block: np.ndarray) -> np.ndarray:
    values = np.asarray(block, dtype=np.float32).ravel()
    return values[np.isfinite(values)]


def _streamed_sum(blocks, fn) -> float:
    return sum(float(fn(v).sum()) for v in map(_finite32, blocks()) if v.size)


def _streamed_median(blocks, coarse: np.ndarray, n: int) -> float:
    """np.median of the positive values, from their top-16-bit histogram and one more pass."""
    ranks = sorted({(n - 1) // 2, n // 2})
    cumulative = np.cumsum(coarse)
    buckets = [int(np.searchsorted(cumulative, r, side="right")) for r in ranks]
    fine = {b: np.zeros(1 << 16, dtype=np.int64) for b in buckets}
    for v in map(_finite32, blocks()):
        bits = v[v > 0].view(np.uint32)
        for b in fine:
            fine[b] += np.bincount(bits[(bits >> 16) == b] & 0xFFFF, minlength=1 << 16)
    picked = []
    for r, b in zip(ranks, buckets):
        before = int(cumulative[b - 1]) if b else 0
        low = int(np.searchsorted(np.cumsum(fine[b]), r - before, side="right"))
        picked.append(float(np.array([(b << 16) | low], dtype=np.uint32).view(np.float32)[0]))
    return float(np.mean(np.array(picked if len(picked) == 2 else picked * 2, dtype=np.float64)))


def _non_negative(p: Mapping[str, Any], low: float, high_abs: float) -> bool:
    # Reanalyses carry round-off negatives (CAMS PM2.5 has -3e-12): those still count as >= 0.
    if p["log"] not in ("if_non_negative", "never"):
        raise AirmapInputError(f"Unknown normalisation setting log='{p['log']}': update the plugin.")
    return bool(low >= -float(p["negative_tolerance_rel"]) * float(high_abs))


def _offset(p: Mapping[str, Any], median: Optional[float]) -> float:
    return max(float(p["offset_rel_median"]) * (1.0 if median is None else median), 1e-30)


def _build(p: Mapping[str, Any], log: bool, offset: float, mu: float, sigma: float,
           non_negative: bool) -> Normaliser:
    """The normaliser with the card's floors on sigma."""
    if log:
        return Normaliser(True, offset, mu, max(sigma, float(p["min_sigma_log"])), True)
    floor = max(float(p["min_sigma_rel"]) * abs(mu), 1e-30)
    return Normaliser(False, 0.0, mu, max(sigma, floor), non_negative)


def card_entry(**overrides: Any) -> Dict[str, Any]:
    """The ``normalisation`` field written into a model card (training passes the same dict
    to ``fit_normaliser``)."""
    unknown = set(overrides) - set(DEFAULTS)
    if unknown:
        raise ValueError(f"unknown normalisation settings {sorted(unknown)}")
    entry = dict(DEFAULTS)
    entry.update(overrides)
    return entry
