"""What the SPIN and IGNNK exporters share: reading the trainer's checkpoint (weights only),
the card, the checked ONNX export, and the held-out scores written into the card afterwards
(measured with the plugin's own ONNX path on 2014-11 .. 2014-12, the bench protocol)."""
from __future__ import annotations

import os
from typing import Dict, Tuple

import numpy as np
import torch

from ..core.modelcard import SCHEMA, write_card
from .export_common import count_parameters, report_written, write_checked_onnx

TRAINED_ON = ("real observations: the Beijing AQI-36 PM2.5 tables with the UCI wind (training months "
              "2014-05 .. 2014-10, stations hidden in the bench excluded)")


def load_checkpoint(path: str, net) -> Tuple[dict, torch.nn.Module]:
    """A trainer's run or a seed ensemble of runs (``series_ensemble``), ready to export."""
    from .series_ensemble import build

    ckpt = torch.load(path, map_location="cpu", weights_only=True)
    model = build(net, ckpt["config"])
    model.load_state_dict(ckpt["state_dict"])
    model.eval()
    return ckpt, model


def series_card(ckpt: dict, model: torch.nn.Module, task: str, name: str, inputs: Dict[str, str]) -> dict:
    return {
        "schema": SCHEMA,
        "task": task,
        "name": name,
        "units": "same as the input series (trained on PM2.5 in ug/m3)",
        "normalisation": ckpt["normalisation"],
        "training": dict(ckpt["training"]),
        "metrics": {},
        "graph": ckpt["graph"],
        "window": ckpt["window"],
        "inputs": inputs,
        "config": ckpt["config"],
        "parameters": count_parameters(model),
        "trained_on": TRAINED_ON,
    }


def export_checked(model, path: str, card: dict, check: Dict[str, np.ndarray], outputs, dynamic_axes,
                   weight_map: bool = False) -> float:
    example = tuple(torch.from_numpy(v) for v in check.values())
    diff = write_checked_onnx(model, path, card, example, outputs, dynamic_axes, check, weight_map=weight_map)
    report_written(path, diff)
    return diff


def add_held_out_scores(path: str, card: dict, methods=None) -> dict:
    """Score the exported file at the bench's hidden stations (25 % and 50 %) on the test months
    and store the numbers in its card."""
    from ..core.onnx_runtime import clear_cache
    from ..core.timeseries import beijing
    from ..core.timeseries.crossval import score_hidden

    clear_cache()
    series, wind = beijing.load()
    _, test = beijing.split(series, wind)
    test_series = series.between(series.times[test][0], series.times[test][-1])
    test_wind = type(wind)(wind.u[:, test], wind.v[:, test], wind.source)
    held = {}
    for share in (0.25, 0.5):
        hidden = beijing.hidden_stations(len(series), share)
        for method in methods or (card["task"],):
            result = score_hidden(method, test_series, test_wind, hidden, model_path=path, device="cpu")
            held[f"{method}_hidden_{int(share * 100)}pct"] = {k: result.metrics[k] for k in ("N", "MAE", "RMSE", "R")}
    card["metrics"]["held_out_beijing_2014_11_12"] = held
    write_card(path, card)
    clear_cache()
    return held


def selection_record(checkpoints) -> list:
    """What each selection run (``train.py --until``) was and how it validated, from its checkpoint."""
    runs = []
    for path in checkpoints:
        training = torch.load(path, map_location="cpu", weights_only=True)["training"]
        if "validation" not in training:
            raise ValueError(f"{path} is not a selection run (train.py --until): it has no validation scores")
        runs.append({"command": training["command"], "validation": training["validation"]})
    return runs


def export_main(export, doc: str, argv=None) -> None:
    """The exporters' command line: checkpoint, ONNX path, --no-score, --selection runs."""
    import argparse

    ap = argparse.ArgumentParser(description=doc)
    ap.add_argument("checkpoint")
    ap.add_argument("onnx")
    ap.add_argument("--no-score", action="store_true", help="skip the held-out scores (tests)")
    ap.add_argument("--selection", nargs="*", default=(),
                    help="checkpoints of the validation runs the settings were chosen from (recorded in the card)")
    ap.add_argument("--selection-only", action="store_true",
                    help="keep the exported ONNX file and its scores; only rewrite the card's selection record")
    args = ap.parse_args(argv)
    if args.selection_only:
        import onnx

        from ..core.modelcard import decode_card

        meta = {p.key: p.value for p in onnx.load(args.onnx).metadata_props}
        card = decode_card(meta, source=args.onnx)
        if card["training"] != torch.load(args.checkpoint, map_location="cpu", weights_only=True)["training"]:
            raise ValueError(f"{args.onnx} was not exported from {args.checkpoint}")
    else:
        card = export(args.checkpoint, args.onnx, not args.no_score)
    if args.selection:
        card["selection"] = selection_record(args.selection)
        write_card(args.onnx, card)
