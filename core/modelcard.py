"""Model cards: the JSON each shipped ONNX model carries in ``metadata_props['airmap']``.

The runtime refuses a model whose card is missing, unreadable, of another schema or of
another task, so a wrong file fails with a clear message instead of a wrong map.
"""
from __future__ import annotations

import json
from typing import Any, Dict, Iterable

from .errors import ModelError

CARD_KEY = "airmap"
SCHEMA = 1
TASKS = ("abpn", "xvfi", "pointconv", "hfsdf", "spin", "ignnk", "test")

# Fields every card must have; task-specific fields (scale factors, tiles, inputs) are free.
REQUIRED = {
    "schema": int,
    "task": str,
    "name": str,
    "units": str,
    "normalisation": dict,  # {"kind": ..., params}: the same function at training and inference
    "training": dict,       # data, seed, command, budget: how to reproduce the weights
    "metrics": dict,        # measured at export
}


def validate_card(card: Any, task: str | Iterable[str] | None = None, source: str = "model") -> Dict[str, Any]:
    """Check a decoded card; return it or raise ``ModelError`` naming what is wrong."""
    if not isinstance(card, dict):
        raise ModelError(f"The {source} has no readable airmap model card: "
                         "export it with airmap's export script.")
    missing = [k for k in REQUIRED if k not in card]
    if missing:
        raise ModelError(f"The {source} model card lacks {', '.join(missing)}: re-export the model.")
    wrong = [k for k, typ in REQUIRED.items() if not isinstance(card[k], typ)]
    if wrong:
        raise ModelError(f"The {source} model card has malformed fields {', '.join(wrong)}: re-export the model.")
    if card["schema"] != SCHEMA:
        raise ModelError(f"The {source} model card is schema {card['schema']}, this airmap reads schema "
                         f"{SCHEMA}: update the plugin or re-export the model.")
    if task is not None:
        wanted = (task,) if isinstance(task, str) else tuple(task)
        if card["task"] not in wanted:
            raise ModelError(f"The {source} is a '{card['task']}' model, not {' or '.join(wanted)}: "
                             "choose a model made for this algorithm.")
    return card


def decode_card(metadata: Dict[str, str], task=None, source: str = "model") -> Dict[str, Any]:
    """Card from an ONNX ``custom_metadata_map`` (or metadata_props as a dict)."""
    raw = metadata.get(CARD_KEY)
    if raw is None:
        raise ModelError(f"The {source} carries no airmap model card (metadata key '{CARD_KEY}'): "
                         "it was not exported by airmap; export it with the model's export script.")
    try:
        card = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise ModelError(f"The {source} model card is not valid JSON ({exc}): re-export the model.") from exc
    return validate_card(card, task, source)


def set_metadata(model, key: str, value: str) -> None:
    """Set one ``metadata_props`` entry of an ``onnx.ModelProto`` (in place), replacing any old one."""
    props = [p for p in model.metadata_props if p.key != key]
    del model.metadata_props[:]
    model.metadata_props.extend(props)
    entry = model.metadata_props.add()
    entry.key = key
    entry.value = value


def attach_card(model, card: Dict[str, Any]):
    """Store a validated card in an ``onnx.ModelProto`` (in place) and return the model."""
    validate_card(card)
    set_metadata(model, CARD_KEY, json.dumps(card, sort_keys=True))
    return model


def write_card(onnx_path: str, card: Dict[str, Any]) -> None:
    """Attach a card to an ONNX file on disk."""
    import onnx  # export-time only: the runtime reads cards through onnxruntime

    model = onnx.load(onnx_path)
    attach_card(model, card)
    onnx.save(model, onnx_path)
