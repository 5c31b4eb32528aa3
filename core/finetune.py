"""The torch-free side of fine-tuning: the one lazy bridge to the torch backend (a clear
message when torch is missing), the check that a MODEL file belongs to the family being
fine-tuned, and the HTML report (learning curve, before/after table, data summary).

The protocols themselves are in ``models/<family>/finetune.py`` (torch).
"""
from __future__ import annotations

import html
import importlib
import json
import os
from typing import Dict, Optional

from .errors import AirmapInputError, ModelError

FAMILIES = {"pointconv": "PointConv", "abpn": "ABPN", "xvfi": "XVFI", "hfsdf": "HF-SDF", "spin": "SPIN",
            "ignnk": "IGNNK"}
TORCH_INSTALL = ("python -m pip install torch==2.13.0 --index-url https://download.pytorch.org/whl/cpu "
                 "(see requirements-torch.txt)")
TORCH_HINT = ("{what} trains a network with PyTorch, which is not installed in QGIS's Python. In QGIS use "
              "Plugins > airmap > Install PyTorch (training and fine-tuning), then restart QGIS; outside QGIS: "
              + TORCH_INSTALL + ".")


def torch_module(module: str, what: str):
    """``airmap.models.<module>`` imported on demand, or an AirmapInputError that says how to
    install torch (the only place a Processing algorithm reaches the torch backend)."""
    try:
        return importlib.import_module(f"..models.{module}", __package__)
    except ImportError as exc:
        if "torch" not in str(exc) and getattr(exc, "name", "") != "torch":
            raise
        raise AirmapInputError(TORCH_HINT.format(what=what)) from exc


def check_base_model(path: str, family: str) -> dict:
    """The card of ``path`` when it is a model of ``family``; a wrong family is refused with a
    message naming both."""
    from .onnx_runtime import load_model

    model = load_model(path, None, device="cpu")
    task = model.card.get("task")
    if task != family:
        theirs = FAMILIES.get(task, f"'{task}'")
        raise ModelError(f"'{os.path.basename(path)}' is a {theirs} model, but this algorithm fine-tunes "
                         f"{FAMILIES[family]} models: choose a {FAMILIES[family]} .onnx as MODEL (or leave it empty "
                         "for the shipped one).")
    return model.card


def _curve_png(curve, metric: str) -> Optional[str]:
    from .plotting import pyplot
    from .report import _figure_png

    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6, 3.6))
    steps = [p["step"] for p in curve]
    ax.plot(steps, [p["validation"] for p in curve], "o-", color="C1", label=f"held-back {metric}")
    ax.set_xlabel("optimiser step")
    ax.set_ylabel(f"held-back {metric}")
    train = [(p["step"], p["train_loss"]) for p in curve if p.get("train_loss") is not None]
    if train:
        ax2 = ax.twinx()
        ax2.plot(*zip(*train), "s--", color="C0", label="training loss")
        ax2.set_ylabel("training loss (epoch mean)")
        ax2.legend(loc="upper right", fontsize=8)
    ax.legend(loc="upper left", fontsize=8)
    png = _figure_png(fig)
    plt.close(fig)
    return png


def _cell(v) -> str:
    if isinstance(v, float):
        return f"{v:.4g}"
    return html.escape(str(v))


def write_report(path: str, title: str, result, metric: str) -> str:
    """The fine-tuning report (atomic write); ``result``: a ``models.finetune.FinetuneResult``."""
    names = [k for k in ("N", "R", "R2", "RMSE", "MAE", "MB") if k in (result.before or result.after)]
    table = "".join(f"<tr><th>{k}</th><td>{_cell(result.before.get(k, ''))}</td><td>{_cell(result.after.get(k, ''))}"
                    f"</td></tr>" for k in names)
    lineage = result.card.get("finetuning", {})
    facts: Dict[str, object] = {"written model": result.model_path, "steps": result.steps,
                                "minutes": round(result.minutes, 2), "best epoch": lineage.get("best_epoch"),
                                "protocol": lineage.get("protocol"), "base model": lineage.get("base_model", {}).get("file"),
                                "base SHA-256": lineage.get("base_model", {}).get("sha256"),
                                "device": lineage.get("device"), "threads": lineage.get("threads"),
                                "seed": lineage.get("seed")}
    info = "".join(f"<li><b>{html.escape(k)}</b>: {_cell(v)}</li>" for k, v in facts.items())
    data = "".join(f"<li><b>{html.escape(str(k))}</b>: {_cell(v)}</li>" for k, v in result.data.items())
    png = _curve_png(result.curve, metric) if result.curve else None
    img = f'<img alt="learning curve" src="data:image/png;base64,{png}"/>' if png else ""
    epochs = "".join(f"<tr><td>{p['epoch']}</td><td>{p['step']}</td><td>{p['seconds']:.0f}</td>"
                     f"<td>{_cell(p['train_loss']) if p['train_loss'] is not None else ''}</td>"
                     f"<td>{_cell(p['validation'])}</td></tr>" for p in result.curve)
    doc = (f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
           "<style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse;margin:1em 0}"
           "th,td{border:1px solid #ccc;padding:4px 10px;text-align:right}</style></head><body>"
           f"<h1>{html.escape(title)}</h1><ul>{info}</ul>"
           f"<h2>Validation on the held-back data ({html.escape(metric)})</h2>"
           f"<table><tr><th></th><th>before (base model)</th><th>after (fine-tuned)</th></tr>{table}</table>"
           "<p>The written model holds the weights of the best epoch on the held-back data (the base weights "
           "if no epoch beat them), so the 'after' column has been used for that choice; score the model on data "
           "it never saw (airmap:crossvalidate, airmap:evaluate) before trusting it.</p>"
           f"<h2>Learning curve</h2>{img}<table><tr><th>epoch</th><th>step</th><th>s</th><th>training loss</th>"
           f"<th>held-back {html.escape(metric)}</th></tr>{epochs}</table>"
           f"<h2>Data</h2><ul>{data}</ul>"
           f"<h2>Model card</h2><pre>{html.escape(json.dumps(result.card, indent=1, default=str))}</pre>"
           "</body></html>")
    from .report import write_html

    return write_html(path, doc)


def require_onnx_path(path: str) -> str:
    if not path:
        raise AirmapInputError("Choose an OUTPUT_MODEL file (.onnx) for the fine-tuned model.")
    if not path.lower().endswith(".onnx"):
        raise AirmapInputError(f"OUTPUT_MODEL must be an .onnx file, got '{os.path.basename(path)}'.")
    return path
