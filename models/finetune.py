"""What the four fine-tuning protocols share (models/<family>/finetune.py): the options every
airmap:finetune* algorithm passes, the wall-clock-bounded optimiser loop with its progress,
cancel and per-epoch log, the learning curve, keeping the best epoch on the held-back data,
and the lineage that goes into the fine-tuned model's card.

Every protocol: starts from the weights of an ONNX file (``models/onnx_weights.py``), trains
on the part of the user's data it is allowed to see, measures the held-back part before and
after with the same function, and writes a new ONNX file whose card says where it came from.
"""
from __future__ import annotations

import copy
import hashlib
import os
import time
from dataclasses import dataclass, field
from typing import Callable, Dict, List, Optional

import numpy as np
import torch

from ..core.progress import Progress, ensure
from .torch_device import device_label, resolve_device, seed_device

CLIP_NORM = 1.0


@dataclass
class FinetuneOptions:
    base_model: str                 # the .onnx the weights start from
    minutes: float = 10.0           # wall-clock budget of the optimiser loop
    seed: int = 0
    device: str = "cpu"             # cpu | cuda | auto
    validation_fraction: float = 0.2
    max_steps: Optional[int] = None  # a step cap (tests, reproducible runs); None = budget only
    lr: Optional[float] = None      # None = the protocol's default
    threads: int = 1


@dataclass
class FinetuneResult:
    model_path: str
    card: dict
    curve: List[dict]               # per epoch: step, seconds, train_loss, validation
    before: Dict[str, float]        # held-back metrics of the base model
    after: Dict[str, float]         # ... and of the written model
    data: Dict[str, object]         # what the run saw (for the report and the card)
    steps: int = 0
    minutes: float = 0.0
    notes: List[str] = field(default_factory=list)


def sha256(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def start(options: FinetuneOptions) -> torch.device:
    """Threads, seeds and device of a run (an unavailable device stops it before any work)."""
    try:
        device = resolve_device(options.device)
    except SystemExit as exc:   # the CLI's message; here it must not end QGIS
        from ..core.errors import AirmapInputError
        raise AirmapInputError(str(exc).replace("--device", "DEVICE")) from None
    torch.set_num_threads(max(1, int(options.threads)))
    torch.manual_seed(options.seed)
    seed_device(options.seed, device)
    return device


def train_budget(model: torch.nn.Module, step_loss: Callable[[int], torch.Tensor], validate: Callable[[], float],
                 options: FinetuneOptions, lr: float, epoch_steps: int, progress: Optional[Progress] = None,
                 extra_params=()) -> dict:
    """Adam at a constant ``lr`` (a fine-tuning rate; constant so a given step count gives the
    same weights whatever the machine's speed) until ``options.minutes`` or ``max_steps``.

    Every ``epoch_steps`` steps: ``validate()`` on the held-back data (lower is better), one
    log line, one point of the learning curve; the weights of the best epoch, or the starting
    weights if no epoch beat them, are what the model holds at the end. Progress follows the
    wall clock; a cancel raises ``Cancelled`` between steps."""
    progress = ensure(progress)
    params = list(model.parameters()) + list(extra_params)
    opt = torch.optim.Adam(params, lr=lr)
    budget = max(options.minutes, 1e-3) * 60.0
    cap = options.max_steps or 10 ** 9
    best = validate()
    best_state, best_epoch = copy.deepcopy(model.state_dict()), 0
    best_extra = [p.detach().clone() for p in extra_params]
    curve = [{"epoch": 0, "step": 0, "seconds": 0.0, "train_loss": None, "validation": best}]
    progress.info(f"epoch 0 (start): held-back {best:.5g}")
    t0 = time.time()
    step, running, epoch = 0, [], 0
    model.train()
    while step < cap and time.time() - t0 < budget:
        progress.check()
        loss = step_loss(step)
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, CLIP_NORM)
        opt.step()
        step += 1
        running.append(float(loss.item()))
        progress.set(max(step / cap, (time.time() - t0) / budget))
        if step % epoch_steps == 0 or step >= cap or time.time() - t0 >= budget:
            epoch += 1
            value = validate()
            model.train()
            point = {"epoch": epoch, "step": step, "seconds": round(time.time() - t0, 2),
                     "train_loss": float(np.mean(running)), "validation": value}
            curve.append(point)
            running = []
            marker = ""
            if value < best:
                best, best_epoch, marker = value, epoch, " (best)"
                best_state = copy.deepcopy(model.state_dict())
                best_extra = [p.detach().clone() for p in extra_params]
            progress.info(f"epoch {epoch}: step {step}, train loss {point['train_loss']:.5g}, "
                          f"held-back {value:.5g}{marker}, {point['seconds']:.0f} s")
    model.load_state_dict(best_state)
    with torch.no_grad():
        for p, b in zip(extra_params, best_extra):
            p.copy_(b)
    model.eval()
    return {"curve": curve, "steps": step, "minutes": (time.time() - t0) / 60.0, "best_epoch": best_epoch}


def epochs_of(samples: int, batch: int, low: int = 5, high: int = 50) -> int:
    """Steps per epoch: one pass over the samples, kept between ``low`` and ``high`` steps so the
    log and the curve have points on tiny and on large data sets alike."""
    return int(min(high, max(low, -(-samples // max(batch, 1)))))


def lineage(options: FinetuneOptions, base_card: dict, *, algorithm: str, protocol: str, data: Dict[str, object],
            run: dict, before: Dict[str, float], after: Dict[str, float], device: torch.device,
            metric: str) -> dict:
    """The card's ``finetuning`` entry; every value comes from this run."""
    return {
        "algorithm": algorithm,
        "base_model": {"file": os.path.basename(options.base_model), "sha256": sha256(options.base_model),
                       "name": base_card.get("name"), "training": base_card.get("training")},
        "data": data,
        "protocol": protocol,
        "steps": run["steps"],
        "minutes": round(run["minutes"], 2),
        "best_epoch": run["best_epoch"],
        "threads": torch.get_num_threads(),
        "device": device_label(device),
        "seed": options.seed,
        "validation_fraction": options.validation_fraction,
        "validation": {"metric": metric, "before": before, "after": after},
    }


def training_entry(options: FinetuneOptions, algorithm: str, data_text: str, run: dict, lr: float,
                   device: torch.device) -> dict:
    """The card's ``training`` (data, seed, command, budget) of a fine-tuned model."""
    return {"data": data_text, "seed": options.seed,
            "command": f"processing.run('airmap:{algorithm}', ...) with MODEL={os.path.basename(options.base_model)}, "
                       f"MAX_MINUTES={options.minutes:g}, SEED={options.seed}, "
                       f"VALIDATION_FRACTION={options.validation_fraction:g}",
            "budget": f"{run['steps']} steps, Adam lr {lr:g} constant, {run['minutes']:.1f} min on "
                      f"{torch.get_num_threads()} thread(s) of {device_label(device)}"}


def finetuned_card(card: dict, base_card: dict, options: FinetuneOptions, *, algorithm: str, protocol: str,
                   what: str, data: Dict[str, object], run: dict, before: Dict[str, float], after: Dict[str, float],
                   device: torch.device, metric: str, lr: float) -> dict:
    """``card`` (a copy of the base card) turned into the fine-tuned model's: ``training``,
    ``finetuning`` (lineage), ``metrics`` and ``trained_on`` of this run."""
    card["training"] = training_entry(options, algorithm, f"user {what}, {protocol}", run, lr, device)
    card["finetuning"] = lineage(options, base_card, algorithm=algorithm, protocol=protocol, data=data, run=run,
                                 before=before, after=after, device=device, metric=metric)
    card["metrics"] = {"held_back_user_data": {"before": before, "after": after}}
    card["trained_on"] = f"fine-tuned on the user's {what} from {os.path.basename(options.base_model)}"
    return card


def split_indices(n: int, fraction: float, rng: np.random.Generator):
    """(train, held-back) index arrays: ``fraction`` of ``n`` held back, at least one each when
    ``n`` allows it."""
    order = rng.permutation(n)
    k = int(round(n * fraction))
    k = min(max(k, 1 if fraction > 0 else 0), n - 1)
    return np.sort(order[k:]), np.sort(order[:k])


class EagerModel:
    """A torch network behind the interface the plugin's inference code calls (``card`` and
    ``model(*arrays) -> first output``), so held-back data are scored through the very path the
    fine-tuned ONNX file will run (normalisation, no-data filling, tiling, post-processing)."""

    def __init__(self, net: torch.nn.Module, card: dict):
        from .abpn.eager import as_numpy_callable

        self.card = card
        self.path = "(torch, fine-tuning)"
        self.provider = "none (the torch network being fine-tuned)"   # read by inference notes
        self._call = as_numpy_callable(net.eval())

    def __call__(self, *arrays):
        return self._call(*arrays)
