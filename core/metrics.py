"""Agreement metrics between predictions and a reference (the papers' set)."""
from __future__ import annotations

from typing import Dict

import numpy as np

METRIC_NAMES = ("N", "R", "R2", "IOA", "MAE", "RMSE", "NME", "MB")


def score(pred, truth) -> Dict[str, float]:
    """N, Pearson R, R² (coefficient of determination), Willmott's IOA, MAE (= MAB), RMSE,
    NME (Σ|p−o| / Σo) and mean bias (p − o), on pairs where both are finite."""
    p = np.asarray(pred, dtype=np.float64).ravel()
    o = np.asarray(truth, dtype=np.float64).ravel()
    ok = np.isfinite(p) & np.isfinite(o)
    p, o = p[ok], o[ok]
    n = int(p.size)
    if n == 0:
        return {k: (0 if k == "N" else float("nan")) for k in METRIC_NAMES}
    err = p - o
    om = o.mean()
    ss_tot = float(((o - om) ** 2).sum())
    r = float(np.corrcoef(p, o)[0, 1]) if n > 1 and p.std() > 0 and o.std() > 0 else float("nan")
    ioa_den = float(((np.abs(p - om) + np.abs(o - om)) ** 2).sum())
    return {
        "N": n,
        "R": r,
        "R2": 1.0 - float((err ** 2).sum()) / ss_tot if ss_tot > 0 else float("nan"),
        "IOA": 1.0 - float((err ** 2).sum()) / ioa_den if ioa_den > 0 else float("nan"),
        "MAE": float(np.abs(err).mean()),
        "RMSE": float(np.sqrt((err ** 2).mean())),
        "NME": float(np.abs(err).sum() / o.sum()) if o.sum() != 0 else float("nan"),
        "MB": float(err.mean()),
    }
