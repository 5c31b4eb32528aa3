"""What one training step of each reference-size network costs on this CPU (seconds, FLOPs,
operator calls), the GPU estimate derived from it, and untrained reference-size checkpoints in
each trainer's format (to measure export sizes). Used by bench/sections/reference.py."""
from __future__ import annotations

import os
import time
from typing import Callable, Dict

import numpy as np
import torch

# H200 estimate: a step is bound by launching its operators or by its arithmetic, whichever is
# slower, plus drawing the batch on the CPU. Assumptions, not measurements:
LAUNCH_S = 5e-6                 # host cost per operator call (dispatch + kernel launch)
SUSTAINED_FLOPS = {"bf16": 100e12, "fp32": 40e12}   # reachable at these layer widths
PRECISION = {"abpn": "bf16", "xvfi": "fp32", "pointconv": "bf16", "hfsdf": "fp32"}   # jobs.FULL
BATCH_LABEL = {"abpn": "32 × 16² coarse crops", "xvfi": "16 × 64² crops", "pointconv": "16 × 96² days",
               "hfsdf": "32 maps × 512 points"}


def reference_step(name: str) -> Callable[[], None]:
    """One optimiser step of the reference network at the reference batch (jobs.FULL), on
    random data of the right shapes, with the trainer's loss form."""
    rng = np.random.default_rng(0)
    torch.manual_seed(0)
    if name == "abpn":
        from ..abpn.net import ABPN, DEEPCAMS_CONFIG

        model = ABPN(**DEEPCAMS_CONFIG)
        x, y = torch.randn(32, 1, 16, 16), torch.randn(32, 1, 48, 48)
        loss_of = lambda: (model(x) - y).abs().mean()
    elif name == "xvfi":
        from ..xvfi.net import DEEPCAMS_CONFIG, XVFI

        model = XVFI(**DEEPCAMS_CONFIG)
        f, t, y = torch.randn(16, 2, 64, 64), torch.rand(16, 1), torch.randn(16, 1, 64, 64)
        loss_of = lambda: (model.forward_train(f, t)[0][0] - y).pow(2).mean()
    elif name == "pointconv":
        from ...core import pointconv as pc
        from ..pointconv.net import REFERENCE_FILTERS, PointConvUNetPP

        model = PointConvUNetPP(1, len(pc.COVARIATES), REFERENCE_FILTERS)
        x, y = torch.rand(16, len(pc.channel_names("pm25")), 96, 96), torch.rand(16, 1, 96, 96)
        loss_of = lambda: sum((o - y).abs().mean() for o in model(x))
    else:
        from ..hfsdf.losses import coded_loss
        from ..hfsdf.net import ImplicitNet, paper_config

        model = ImplicitNet(paper_config())
        latents = torch.zeros(64, 256, requires_grad=True)
        surface = (rng.random((32, 512, 3)) * 2 - 1).astype(np.float32)
        loss_of = lambda: coded_loss(model, latents[:32], surface, rng)[0]
    opt = torch.optim.Adam(model.parameters(), lr=1e-4)

    def step():
        loss = loss_of()
        opt.zero_grad()
        loss.backward()
        opt.step()

    return step


def step_cost(name: str, repeats: int = 2, threads: int = 1) -> Dict[str, float]:
    """{'cpu_s', 'gflop', 'ops'} of one step on ``threads`` torch threads."""
    from torch.utils._python_dispatch import TorchDispatchMode
    from torch.utils.flop_counter import FlopCounterMode

    class Count(TorchDispatchMode):
        calls = 0

        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            Count.calls += 1
            return func(*args, **(kwargs or {}))

    torch.set_num_threads(threads)
    step = reference_step(name)
    step()   # warm-up
    t0 = time.process_time()   # CPU time of this process: what the step costs, whatever else the host runs
    for _ in range(repeats):
        step()
    cpu_s = (time.process_time() - t0) / repeats
    with FlopCounterMode(display=False) as flops:
        step()
    with Count():
        step()
    return {"cpu_s": cpu_s, "gflop": flops.get_total_flops() / 1e9, "ops": Count.calls}


def pointconv_batch_s(batches: int = 5) -> float:
    """CPU seconds to draw one reference batch of pseudo-station samples (16 days of 96²)."""
    from ..pointconv import data

    stream = data.batches(data.smooth_random_days(8, 96, 0), "pm25", 16, np.random.default_rng(0), None, 0.2)
    next(stream)
    t0 = time.process_time()
    for _ in range(batches):
        next(stream)
    return (time.process_time() - t0) / batches


def gpu_estimate(name: str, cost: Dict[str, float], data_s: float = 0.0) -> float:
    """Estimated steps/s on the H200 (see the constants above)."""
    step = max(cost["ops"] * LAUNCH_S, cost["gflop"] * 1e9 / SUSTAINED_FLOPS[PRECISION[name]]) + data_s
    return 1.0 / step


def untrained_checkpoint(name: str, folder: str) -> str:
    """A reference-size checkpoint with untrained weights, in the trainer's own format."""
    from ...core.normalise import card_entry

    record = {"data": "untrained (size measurement)", "seed": 0, "command": "-", "budget": "0 steps"}
    path = os.path.join(folder, f"{name}.pt")
    if name in ("abpn", "xvfi"):
        if name == "abpn":
            from ..abpn.net import ABPN as Net, DEEPCAMS_CONFIG as config
        else:
            from ..xvfi.net import DEEPCAMS_CONFIG as config, XVFI as Net
        torch.save({"state_dict": Net(**config).state_dict(), "config": config, "training": record, "metrics": {},
                    "normalisation": card_entry(**({"log": "never"} if name == "xvfi" else {}))}, path)
    elif name.startswith("pointconv"):
        from ...core import pointconv as pc
        from ..pointconv.net import REFERENCE_FILTERS, PointConvUNetPP, count_parameters

        variant = name.split("_")[1]
        model = PointConvUNetPP(len(pc.VARIANT_VARIABLES[variant]), len(pc.COVARIATES), REFERENCE_FILTERS)
        torch.save({"state_dict": model.state_dict(),
                    "record": {"variant": variant, "filters": list(REFERENCE_FILTERS), "k1": 21, "k2": 11,
                               "parameters": count_parameters(model), "training": dict(record, stages=[record]),
                               "validation": {}}}, path)
    else:
        from ..hfsdf.net import ImplicitNet, paper_config
        from ..hfsdf.train import save

        save(path, ImplicitNet(paper_config()), torch.zeros(1, 256), {"command": "-"}, 0, 0.0)
    return path


def bf16_noise(name: str, cache: str, bench: Dict[str, int]) -> Dict[str, float]:
    """How far bfloat16 autocast moves a trained (shipped) network's output, against how far that
    output is from the truth, on held-out data in the network's normalised units: {'bf16_rms',
    'error_rms'}. Runs on the CPU (autocast on the CPU has the same 8-bit mantissa as on CUDA;
    the op coverage differs, so this bounds the rounding, it does not replay a GPU run)."""
    from .compare import deepcams_stacks, shipped_path

    torch.set_num_threads(1)
    path = shipped_path(name)
    if name == "abpn":
        from ...core.deepcams import sr_pairs
        from ...core.modelcard import decode_card
        from ...core.normalise import fit_normaliser
        from ..abpn.eager import eager_model
        import onnx

        card = decode_card({p.key: p.value for p in onnx.load(path).metadata_props}, "abpn")
        model = eager_model(path, card)
        xs, ys = [], []
        for hourly in deepcams_stacks(bench, cache):
            coarse, fine = sr_pairs(hourly)
            n = fit_normaliser(coarse, card["normalisation"])
            xs.append(n.forward(coarse[::bench["deepcams_frame_step"]]))
            ys.append(n.forward(fine[::bench["deepcams_frame_step"]]))
        x, y = torch.from_numpy(np.concatenate(xs))[:, None], torch.from_numpy(np.concatenate(ys))[:, None]
    else:
        from ...core import pointconv as pc
        from ..pointconv import data
        from ..pointconv.net import PointConvUNetPP
        from ..pointconv.weights import checkpoint_from_onnx

        ckpt = checkpoint_from_onnx(path)
        rec = ckpt["record"]
        model = PointConvUNetPP(len(pc.VARIANT_VARIABLES[rec["variant"]]), len(pc.COVARIATES), rec["filters"],
                                rec["k1"], rec["k2"])
        model.load_state_dict(ckpt["state_dict"])
        model.eval()
        days = data.simulator_days(bench["pointconv_days"], bench["pointconv_size"], 90_004, cache_dir=cache)
        rng = np.random.default_rng(0)
        pairs = [data.sample_inputs(d, rec["variant"], rng, covariate_keep=1.0)[:2] for d in days]
        x, y = (torch.from_numpy(np.stack(a)) for a in zip(*pairs))
    with torch.no_grad():
        full = model(x)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            half = model(x)
    full, half = (o if torch.is_tensor(o) else o[-1] for o in (full, half))
    rms = lambda t: float(torch.sqrt(torch.mean(t.float() ** 2)))
    return {"bf16_rms": rms(half.float() - full), "error_rms": rms(full - y)}
