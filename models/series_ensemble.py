"""Seed ensembles of SPIN or IGNNK: K runs of one training command that differ only in --seed,
averaged inside one ONNX graph (same inputs and output as a single model, so inference, the
card and the bench treat it as one model).

    PYTHONPATH=.pkg .venv/bin/python -m airmap.models.series_ensemble spin a/spin.pt b/spin.pt c/spin.pt --out ens/spin.pt

writes an ensemble checkpoint that the model's ``export.py`` reads like a single run. When the
members are selection runs (``train.py --until``), the ensemble is validated on the rest of the
training months (``series_validation``) and its scores go into its run record.
"""
from __future__ import annotations

import argparse
import os
import re

import torch
from torch import nn

_MINUTES = re.compile(r"([0-9.]+) min on [^,]*")


class MeanOf(nn.Module):
    """The mean of the members' outputs (same inputs as one member)."""

    def __init__(self, members):
        super().__init__()
        self.members = nn.ModuleList(members)

    def forward(self, *inputs):
        return torch.stack([m(*inputs) for m in self.members]).mean(dim=0)


def build(net, config: dict) -> nn.Module:
    """``net(**config)``, or the mean of ``config['members']`` such nets for an ensemble."""
    config = dict(config)
    members = config.pop("members", None)
    return net(**config) if members is None else MeanOf([net(**config) for _ in range(members)])


def _flags(command: str) -> dict:
    """{flag: value} of a recorded training command, without --seed (flag order does not matter)."""
    flags, key = {}, None
    for token in command.split():
        if token.startswith("--"):
            key = token
            flags[key] = ""
        elif key is not None:
            flags[key] = (flags[key] + " " + token).strip()
    flags.pop("--seed", None)
    return flags


def recorded_run(checkpoint: str):
    """(flags without --seed and --out, seed as text) of the training run saved at
    ``checkpoint``; None if there is none (lets a caller reuse a run of the same command)."""
    if not os.path.exists(checkpoint):
        return None
    training = torch.load(checkpoint, map_location="cpu", weights_only=True)["training"]
    flags = _flags(training["command"])
    flags.pop("--out", None)
    return flags, str(training["seed"])


def _same(ckpts, key: str, paths) -> None:
    first = ckpts[0][key]
    for ckpt, path in zip(ckpts[1:], paths[1:]):
        if ckpt[key] != first:
            raise ValueError(f"{path}: its {key} differs from {paths[0]}'s; members must share one recipe")


def combine(paths, out: str) -> dict:
    """Write the ensemble checkpoint of the runs at ``paths`` (one recipe, distinct seeds)."""
    ckpts = [torch.load(p, map_location="cpu", weights_only=True) for p in paths]
    for key in ("config", "graph", "window", "normalisation"):
        _same(ckpts, key, paths)
    commands = [c["training"]["command"] for c in ckpts]
    if any(_flags(c) != _flags(commands[0]) for c in commands[1:]):
        raise ValueError("the members' training commands differ in more than --seed")
    seeds = [c["training"]["seed"] for c in ckpts]
    if len(set(seeds)) != len(seeds):
        raise ValueError(f"the members must have distinct seeds, got {seeds}")
    training = {k: v for k, v in ckpts[0]["training"].items() if k not in ("validation", "finished")}
    wall = sum(float(_MINUTES.search(c["training"]["budget"]).group(1)) for c in ckpts)
    recipe = _MINUTES.sub("", ckpts[0]["training"]["budget"]).rstrip(", ")
    training.update(
        seed=seeds, command=commands,
        budget=f"{len(ckpts)} runs of {recipe}, {wall:.1f} min in all on 1 CPU thread (wall)",
        member_budgets=[c["training"]["budget"] for c in ckpts],
        ensemble=f"mean of {len(ckpts)} runs of one command with seeds {seeds} (models/series_ensemble.py)")
    if all("process_cpu_minutes" in c["training"] for c in ckpts):
        training["process_cpu_minutes"] = round(sum(c["training"]["process_cpu_minutes"] for c in ckpts), 2)
    state = {f"members.{k}.{name}": t for k, c in enumerate(ckpts) for name, t in c["state_dict"].items()}
    ckpt = {"config": dict(ckpts[0]["config"], members=len(ckpts)), "state_dict": state, "training": training,
            "graph": ckpts[0]["graph"], "window": ckpts[0]["window"], "normalisation": ckpts[0]["normalisation"]}
    os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
    torch.save(ckpt, out)
    return ckpt


def main(argv=None):
    from .series_validation import validate

    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("model", choices=("spin", "ignnk"))
    ap.add_argument("checkpoints", nargs="+")
    ap.add_argument("--out", required=True)
    args = ap.parse_args(argv)
    ckpt = combine(args.checkpoints, args.out)
    print(f"wrote {args.out}: {ckpt['training']['ensemble']}")
    until = _flags(ckpt["training"]["command"][0]).get("--until")
    if until:  # selection members: validate the ensemble on the held-back training month
        if args.model == "spin":
            from .spin.export import export
        else:
            from .ignnk.export import export
        scores = validate(args.out, export, args.model, until)
        print(f"validation ({args.model} ensemble): {scores}")
        ckpt["training"]["validation"] = scores
        torch.save(ckpt, args.out)


if __name__ == "__main__":
    main()
