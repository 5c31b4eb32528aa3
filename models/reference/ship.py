"""From a trained checkpoint to a file that can ship: the model's own exporter (float32, checked
against torch), then weights stored compactly enough for ``MAX_BYTES`` (models/onnx_compact.py),
the compact file checked against the float32 one, and the card completed with the run."""
from __future__ import annotations

import json
import os
import re
import sys
from typing import Dict, List, Optional

import numpy as np

from ...core.modelcard import CARD_KEY, attach_card
from ..onnx_compact import compact, storage_note

MAX_BYTES = 16 * 2 ** 20     # per shipped file (what a device run can bring back, and the limit)
ONNX_FILES = {"abpn": "abpn.onnx", "xvfi": "xvfi.onnx", "pointconv_pm25": "pointconv_pm25.onnx",
              "pointconv_met": "pointconv_met.onnx", "hfsdf": "hfsdf.onnx"}


def export_command(name: str, checkpoint: str, onnx_path: str) -> List[str]:
    """The model's own exporter as a command line (float32 ONNX, card from the checkpoint)."""
    py = [sys.executable, "-m"]
    if name in ("abpn", "xvfi"):
        return py + [f"airmap.models.{name}.export", "--checkpoint", checkpoint, "--out", onnx_path]
    if name.startswith("pointconv"):
        return py + ["airmap.models.pointconv.export", checkpoint, onnx_path]
    return py + ["airmap.models.hfsdf.export", "--checkpoint", checkpoint, "--out", onnx_path, "--no-metrics"]


def read_card(proto) -> Dict:
    return json.loads({p.key: p.value for p in proto.metadata_props}[CARD_KEY])


def check_feeds(card: Dict, proto) -> Dict[str, np.ndarray]:
    """A small input of the model's kind, to compare the compact file with the float32 one."""
    rng = np.random.default_rng(0)
    task = card["task"]
    if task == "abpn":
        return {"coarse": rng.standard_normal((1, 1, 24, 24)).astype(np.float32)}
    if task == "xvfi":
        m = int(card["size_multiple"])
        return {"frames": rng.standard_normal((2, 2, 2 * m, 2 * m)).astype(np.float32),
                "t": np.array([[1 / 3], [2 / 3]], np.float32)}
    if task == "pointconv":
        x = rng.random((1, len(card["inputs"]), 64, 64)).astype(np.float32)
        x[:, 1::2] = (x[:, 1::2] > 0.97)      # sparse masks, as station grids are
        return {"x": x}
    names = [i.name for i in proto.graph.input]
    pts = (rng.random((256, 3)) * 2 - 1).astype(np.float32)
    feeds = {"points": pts, "points_dz": pts, "points_jac": pts[:16]}
    if "latent" in names:
        feeds["latent"] = (rng.standard_normal(int(card["latent_dim"])) * 0.1).astype(np.float32)
    return {k: v for k, v in feeds.items() if k in names}


def _run(proto, feeds) -> List[np.ndarray]:
    import onnxruntime as ort

    sess = ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])
    return sess.run(None, feeds)


def steps_of(card: Dict) -> Optional[int]:
    """Optimiser steps of the (last stage of the) run, from the card's budget record."""
    budget = card["training"].get("budget")
    if isinstance(budget, dict):
        return int(budget.get("steps", 0))
    found = re.findall(r"(\d+) steps", str(budget))
    return int(found[-1]) if found else None


def ship(float32_path: str, out_path: str, run: Dict) -> Dict:
    """Write ``out_path``: the float32 export at ``float32_path`` with compact weights (only as
    far as ``MAX_BYTES`` needs) and ``run`` (budget, device, command, wall time) in the card.
    Returns what the summary reports (size, storage, steps, compact-vs-float32 difference)."""
    import onnx

    proto = onnx.load(float32_path)
    card = read_card(proto)
    feeds = check_feeds(card, proto)
    before = _run(proto, feeds)
    done = compact(proto, MAX_BYTES - 64 * 1024)   # headroom for the card written below
    diff = rel = 0.0
    if done["fp16"]:
        after = _run(proto, feeds)
        diff = max(float(np.max(np.abs(a - b))) if a.size else 0.0 for a, b in zip(after, before))
        rel = diff / max(max(float(np.max(np.abs(b))) if b.size else 0.0 for b in before), 1e-12)
    card["metrics"]["weights_storage"] = storage_note(done)
    card["metrics"]["compact_vs_float32_max_abs"] = diff        # on the check input above
    card["metrics"]["compact_vs_float32_max_rel"] = rel         # ... relative to the largest output
    card["training"]["reference_run"] = dict(run, steps=steps_of(card))
    attach_card(proto, card)
    tmp = out_path + ".tmp"
    onnx.save(proto, tmp)
    size = os.path.getsize(tmp)
    if size > MAX_BYTES:
        os.remove(tmp)
        raise ValueError(f"{os.path.basename(out_path)} is {size / 2**20:.1f} MiB, over {MAX_BYTES / 2**20:.0f} MiB")
    os.replace(tmp, out_path)
    return {"bytes": size, "storage": card["metrics"]["weights_storage"], "compact_vs_float32_max_abs": diff,
            "compact_vs_float32_max_rel": rel,
            "steps": card["training"]["reference_run"]["steps"], "budget": card["training"].get("budget"),
            "compacted": bool(done["fp16"])}


def add_metrics(path: str, key: str, value) -> None:
    """Record ``value`` under ``metrics[key]`` in the card of ``path`` (rewritten atomically)."""
    import onnx

    proto = onnx.load(path)
    card = read_card(proto)
    card["metrics"][key] = value
    attach_card(proto, card)
    tmp = path + ".tmp"
    onnx.save(proto, tmp)
    os.replace(tmp, path)
