"""HTML evaluation report: metrics table, scatter-density plot and bias map in one file
(plots embedded as PNG, so the report can be mailed or archived as it is)."""
from __future__ import annotations

import base64
import html
import io
import os
import tempfile
from typing import Dict, Optional

import numpy as np

from .evaluate import Comparison
from .metrics import METRIC_NAMES
from .plotting import pyplot


def _figure_png(fig) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    return base64.b64encode(buf.getvalue()).decode("ascii")


def scatter_density(comparison: Comparison, units: str) -> str:
    plt = pyplot()

    ref, pred = comparison.reference, comparison.predicted
    fig, ax = plt.subplots(figsize=(5, 4.5))
    lo = float(min(ref.min(), pred.min()))
    hi = float(max(ref.max(), pred.max()))
    if ref.size > 500:
        hb = ax.hexbin(ref, pred, gridsize=60, bins="log", cmap="viridis", mincnt=1, extent=(lo, hi, lo, hi))
        fig.colorbar(hb, ax=ax, label="pairs (log)")
    else:
        ax.scatter(ref, pred, s=10, alpha=0.7)
    ax.plot([lo, hi], [lo, hi], "k--", lw=1, label="1:1")
    if ref.size > 1 and np.ptp(ref) > 0:
        slope, icpt = np.polyfit(ref, pred, 1)
        ax.plot([lo, hi], [icpt + slope * lo, icpt + slope * hi], "r-", lw=1, label=f"fit y={slope:.2f}x+{icpt:.2f}")
    ax.set_xlabel(f"reference [{units}]")
    ax.set_ylabel(f"prediction [{units}]")
    ax.legend(loc="upper left", fontsize=8)
    png = _figure_png(fig)
    plt.close(fig)
    return png


def bias_map(comparison: Comparison, extent, units: str) -> Optional[str]:
    plt = pyplot()

    fig, ax = plt.subplots(figsize=(6, 4.5))
    if comparison.bias_map is not None:
        b = comparison.bias_map
        lim = float(np.nanpercentile(np.abs(b), 98)) or 1.0
        im = ax.imshow(b, cmap="RdBu_r", vmin=-lim, vmax=lim, extent=(extent[0], extent[2], extent[1], extent[3]))
    elif comparison.points is not None:
        p = comparison.points
        lim = float(np.nanpercentile(np.abs(p.values), 98)) or 1.0
        im = ax.scatter(p.x, p.y, c=p.values, cmap="RdBu_r", vmin=-lim, vmax=lim, s=14, edgecolors="k", linewidths=0.2)
    else:
        plt.close(fig)
        return None
    fig.colorbar(im, ax=ax, label=f"prediction − reference [{units}]")
    ax.set_title("Bias")
    png = _figure_png(fig)
    plt.close(fig)
    return png


def write_report(path: str, comparison: Comparison, title: str, extent, units: str = "",
                 details: Optional[Dict[str, str]] = None) -> str:
    """Write the report atomically and return its path."""
    rows = "".join(f"<tr><th>{k}</th><td>{comparison.metrics[k]:.4g}</td></tr>" for k in METRIC_NAMES)
    info = "".join(f"<li><b>{html.escape(k)}</b>: {html.escape(str(v))}</li>" for k, v in (details or {}).items())
    images = [scatter_density(comparison, units), bias_map(comparison, extent, units)]
    imgs = "".join(f'<img alt="plot" src="data:image/png;base64,{png}"/>' for png in images if png)
    doc = (f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
           "<style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}"
           "th,td{border:1px solid #ccc;padding:4px 10px;text-align:right}img{max-width:48%;margin:1%}</style>"
           f"</head><body><h1>{html.escape(title)}</h1><ul>{info}</ul>"
           f"<table>{rows}</table><p>N pairs; R Pearson; R2 coefficient of determination; IOA Willmott's "
           "index of agreement; MAE mean absolute error (= MAB); RMSE; NME normalised mean error; MB mean bias."
           f"</p>{imgs}</body></html>")
    return write_html(path, doc)


def write_html(path: str, doc: str) -> str:
    """Write an HTML document atomically (temp file + rename) and return its path."""
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(suffix=".html", dir=folder)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(doc)
    os.replace(tmp, path)
    return path
