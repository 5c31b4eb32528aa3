"""The airmap model card of the coded HF-SDF model (stored in the ONNX metadata)."""
from __future__ import annotations

from typing import Dict, Optional

from .net import ImplicitNet, count_parameters, paper_config


def build_card(net: ImplicitNet, extra: Dict, steps: int, seconds: float,
               metrics: Optional[Dict] = None) -> Dict:
    cfg = net.config
    return {
        "schema": 1,
        "task": "hfsdf",
        "name": f"HF-SDF coded decoder {cfg.depth}x{cfg.width}, {cfg.latent_dim}-d latent (simulated maps)",
        "units": "input units: every map is min-max scaled into the cube and mapped back",
        "normalisation": {
            "kind": "minmax_cube",
            "range": [-1.0, 1.0],
            "axes": "x, y from the input extent (cell edges), value from the observed min/max",
            "function": "core/hfsdf/cube.py Cube.fit",
        },
        "network": cfg.to_dict(),
        "parameters": count_parameters(net),
        "paper_network": dict(paper_config().to_dict(), parameters=1839358),
        "latent_dim": cfg.latent_dim,
        "latent_fit": {"loss": "mean|f(obs)| + 0.1[(df/dz-1)^2 samples + obs] + 1e-3 mean|z|",
                       "solver": "prox-linear Levenberg-Marquardt (IRLS, smoothed-L1 continuation) on the exported Jacobians, numpy",
                       "init": "N(0, 1/L)"},
        "graph": {"inputs": ["latent", "points", "points_dz", "points_jac"],
                  "outputs": ["value", "value_dz", "dfdz", "value_jac", "dfdz_jac", "jac_value", "jac_dfdz"],
                  "note": "feed (0, 3) arrays to branches you do not need"},
        "training": {
            "data": ("core.simulate hourly PM2.5, regions (seeds) %s at %d x %d cells of 5 km, "
                     "seasons cycling winter/summer/spring, days 0-2 every 3 h; plus %d smooth random "
                     "log-normal fields. Day 3 of each region is held out. No real data."
                     % (extra.get("sim_seeds"), extra.get("size", 0), extra.get("size", 0),
                        extra.get("random_maps", 0))),
            "maps": len(extra.get("labels", [])),
            "seed": extra.get("args", {}).get("seed", 0),
            "command": extra.get("command", ""),
            # the torch threads the run used (recorded by train.py), else the --threads it was given
            "budget": {"steps": steps, "minutes": round(seconds / 60.0, 1),
                       "threads": extra.get("threads", extra.get("args", {}).get("threads")),
                       "device": extra.get("device", "cpu"),  # 'cuda (<GPU name>)' after --device cuda
                       "batch": "%d maps x %d points" % (extra.get("args", {}).get("batch", 16),
                                                          extra.get("args", {}).get("points", 256))},
            "final_loss": extra.get("final_loss_mean100"),
        },
        "metrics": metrics or {},
    }
