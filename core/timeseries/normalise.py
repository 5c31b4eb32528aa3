"""The normalisation of the series networks, at training and inference time (named in the card).

``scale``: value / a fixed divisor (IGNNK's choice). ``window_mean``: value / the mean of the
window's observed values (at least ``floor``), so a winter haze window looks to the network like
a clean summer one: the shipped SPIN was trained on May .. October and is applied in any season.
"""
from __future__ import annotations

import numpy as np

WINDOW_FLOOR = 5.0  # ug/m3: smallest divisor of the window-mean normalisation


def series_normalisation(kind: str, scale: float) -> dict:
    if kind == "window_mean":
        return {"kind": "window_mean", "floor": WINDOW_FLOOR,
                "note": "network value = concentration / max(floor, mean of the window's observed values); unknown = 0"}
    if kind != "scale":
        raise ValueError(kind)
    return {"kind": "scale", "scale": scale, "note": "network value = concentration / scale; unknown = 0"}


def window_divisor(card_normalisation: dict, values: np.ndarray) -> float:
    """The divisor of one window (``values`` NaN where unknown)."""
    if card_normalisation["kind"] == "window_mean":
        finite = values[np.isfinite(values)]
        floor = float(card_normalisation["floor"])
        return float(max(floor, finite.mean())) if finite.size else floor
    return float(card_normalisation["scale"])
