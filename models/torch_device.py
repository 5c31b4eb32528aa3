"""Where the trainers run: the ``--device`` option every train.py offers, resolved to a
``torch.device``, plus the two things that follow from it (the device's name for the run
record, CPU copies of weights for checkpoints).

Only training moves: data is generated in numpy on the CPU, batches are moved to the device
just before the forward pass, and checkpoints always hold CPU tensors so export.py (which
exports from the CPU) and fine-tuning work on any machine. The default stays ``cpu`` so every
recorded command repeats bit for bit.
"""
from __future__ import annotations

import argparse
from collections import OrderedDict
from typing import Dict

import torch

DEVICE_CHOICES = ("cpu", "cuda", "auto")
DEFAULT_DEVICE = "cpu"


def add_device_argument(ap: argparse.ArgumentParser) -> None:
    ap.add_argument("--device", choices=DEVICE_CHOICES, default=DEFAULT_DEVICE,
                    help="where to train: cpu (default, bit-reproducible), cuda (a GPU), "
                         "auto (cuda when available, else cpu)")


def resolve_device(choice: str) -> torch.device:
    """'cpu' | 'cuda' | 'auto' -> torch.device; 'cuda' without a usable GPU is an error that
    says so (rather than torch's later, less direct failure on the first .to('cuda'))."""
    if choice not in DEVICE_CHOICES:
        raise ValueError(f"unknown device {choice!r}: use one of {', '.join(DEVICE_CHOICES)}")
    if choice == "auto":
        choice = "cuda" if torch.cuda.is_available() else "cpu"
    if choice == "cuda" and not torch.cuda.is_available():
        why = (f"torch {torch.__version__} is built for CUDA {torch.version.cuda} but sees no GPU"
               if torch.version.cuda else f"torch {torch.__version__} is a CPU-only build")
        raise SystemExit(f"--device cuda: CUDA is not available ({why}); use --device cpu")
    return torch.device(choice)


def seed_device(seed: int, device: torch.device) -> None:
    """Seed the GPU generators too (torch.manual_seed alone is enough on the CPU; doing the
    CUDA part only on CUDA keeps CPU runs free of any CUDA initialisation). cuDNN is asked for
    deterministic kernels; a GPU run is repeatable only as far as the remaining atomics allow,
    and does not reproduce CPU weights bit for bit."""
    if device.type == "cuda":
        torch.cuda.manual_seed_all(seed)
        torch.backends.cudnn.deterministic = True
        torch.backends.cudnn.benchmark = False


def device_label(device: torch.device) -> str:
    """'cpu', or 'cuda (<GPU name>)' for the run record."""
    if device.type == "cuda":
        return f"cuda ({torch.cuda.get_device_name(device)})"
    return device.type


def cpu_state_dict(module: torch.nn.Module) -> Dict[str, torch.Tensor]:
    """``module.state_dict()`` with every tensor on the CPU (the module itself stays where it
    is, so this also serves mid-training checkpoints). On the CPU nothing is copied (the
    tensors share the parameters' storage), so the saved weights are what they were before
    --device existed."""
    state = module.state_dict()
    out = OrderedDict((k, v.detach().cpu()) for k, v in state.items())
    metadata = getattr(state, "_metadata", None)
    if metadata is not None:
        out._metadata = metadata  # per-module versions, read by load_state_dict
    return out
