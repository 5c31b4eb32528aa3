"""Issue 14 — reference-size training (models/reference): what one training step of each
reference network costs here (and the H200 estimate made from it), how the reference files are
stored within 16 MiB, and what that storage does to trained models' outputs on the bench's
held-out simulated sets (the shipped models stored the same way, scored beside their float32
originals). CPU, 1 thread."""
import os
import subprocess
import tempfile

from ..common import table
from ...models.onnx_compact import compact, storage_note
from ...models.reference import costs
from ...models.reference.compare import SCORERS, shipped_path
from ...models.reference.jobs import FULL, TINY
from ...models.reference.ship import MAX_BYTES, ONNX_FILES, export_command, ship


def cost_rows(quick):
    rows = []
    for name in ("abpn",) if quick else ("abpn", "xvfi", "pointconv", "hfsdf"):
        cost = costs.step_cost(name, repeats=1 if quick else 2)
        data_s = costs.pointconv_batch_s() if name == "pointconv" else 0.0
        rows.append((name, costs.BATCH_LABEL[name], f"{cost['cpu_s']:.2f}", f"{cost['gflop']:.0f}", f"{cost['ops']:,}",
                     f"{data_s * 1e3:.1f}" if data_s else "—", costs.PRECISION[name],
                     f"{costs.gpu_estimate(name, cost, data_s):.0f}"))
    return rows


def storage_rows(quick, folder):
    rows = []
    for name in ("abpn",) if quick else ("abpn", "xvfi", "pointconv_pm25", "hfsdf"):
        ckpt = costs.untrained_checkpoint(name, folder)
        float32 = os.path.join(folder, ONNX_FILES[name])
        subprocess.run(export_command(name, ckpt, float32), check=True, capture_output=True,
                       env=dict(os.environ, OMP_NUM_THREADS="1"))
        info = ship(float32, os.path.join(folder, "stored_" + ONNX_FILES[name]), {"device": "-"})
        rows.append((name, f"{os.path.getsize(float32) / 2**20:.2f}", f"{info['bytes'] / 2**20:.2f}",
                     info["storage"].split(";")[0]))
    return rows


def stored_like_reference(path, folder, int8):
    """The shipped file with every large tensor as float16 (and, with ``int8``, its largest
    tensors as int8 until it is 10 % below the float16 size, as the reference PointConv needs)."""
    import onnx

    proto = onnx.load(path)
    size = proto.ByteSize()
    done = compact(proto, int(size * 0.9))
    if int8:
        proto = onnx.load(path)
        done = compact(proto, int(done["bytes"] * 0.9))
    out = os.path.join(folder, ("int8_" if int8 else "fp16_") + os.path.basename(path))
    onnx.save(proto, out)
    return out, storage_note(done).split(";")[0]


def effect_rows(quick, folder, cache):
    from ...models.reference import simdata

    bench = dict((TINY if quick else FULL).bench, deepcams_scenarios=1, pointconv_days=2 if quick else 4,
                 hfsdf_regions=1)
    simdata.generate(simdata.bench_tasks(bench, ["abpn", "pointconv", "hfsdf"]), cache, os.cpu_count() or 1,
                     lambda msg: None)
    rows = []
    cases = [("abpn", False), ("xvfi", False), ("pointconv_pm25", False), ("pointconv_pm25", True), ("hfsdf", False)]
    for name, int8 in cases[:1] if quick else cases:
        original = shipped_path(name)
        stored, note = stored_like_reference(original, folder, int8)
        base = SCORERS[name](original, bench, cache, 1, baseline=False)
        new = SCORERS[name](stored, bench, cache, 1, baseline=False)
        for label in base:
            a, b = base[label], new[label]
            rows.append((name, note, label, f"{os.path.getsize(stored) / 2**20:.2f}", a["RMSE"], b["RMSE"],
                         f"{abs(b['RMSE'] - a['RMSE']) / a['RMSE']:.1e}", a["R"], b["R"]))
    return rows, bench


def bf16_rows(quick, cache, bench):
    rows = []
    for name in ("abpn",) if quick else ("abpn", "pointconv_pm25"):
        m = costs.bf16_noise(name, cache, bench)
        rows.append((name, m["bf16_rms"], m["error_rms"], f"{m['bf16_rms'] / m['error_rms']:.1e}"))
    return rows


def section(quick: bool) -> str:
    out = ["## Reference-size training: step cost, storage, and the effect of compact weights (issue 14)", ""]
    out.append("What `make train-reference` (models/README.md) trains. One optimiser step of each reference "
               "network at its reference batch, on random data of the right shapes, on this CPU (1 thread): "
               "process CPU seconds (independent of other jobs on the host), FLOPs (torch.utils.flop_counter, forward + backward) and operator calls. The last "
               "column is an **estimate, not a measurement**: max(calls × "
               f"{costs.LAUNCH_S * 1e6:.0f} µs, FLOPs ÷ {costs.SUSTAINED_FLOPS['bf16'] / 1e12:.0f} TFLOP/s in bf16 or "
               f"{costs.SUSTAINED_FLOPS['fp32'] / 1e12:.0f} in fp32) + the CPU batch drawing.")
    out.append("")
    out.append(table(["model", "batch", "CPU s/step", "GFLOP/step", "operator calls", "batch drawing ms",
                      "precision", "H200 steps/s (estimate)"], cost_rows(quick)))
    out.append("")
    with tempfile.TemporaryDirectory() as folder:
        out.append(f"Reference-size exports (untrained weights; the size does not depend on training) and how "
                   f"`models/reference/ship.py` stores them under {MAX_BYTES / 2**20:.0f} MiB:")
        out.append("")
        out.append(table(["model", "float32 export MiB", "stored MiB", "storage"], storage_rows(quick, folder)))
        out.append("")
        rows, bench = effect_rows(quick, folder, os.path.join(folder, "cache"))
        out.append("The effect of that storage on trained networks: each shipped model stored as the reference "
                   "files are (every large tensor float16; for PointConv also with the largest tensors as int8, "
                   "as its reference file needs) and scored beside its float32 original, both through the "
                   "plugin's inference path on held-out simulated data (the bench's seeds; "
                   f"{bench['deepcams_scenarios']} DeepCAMS scenario(s) × {bench['deepcams_days']} days, "
                   f"{bench['pointconv_days']} PointConv days, HF-SDF region 1001 ×10).")
        out.append("")
        out.append(table(["model", "storage", "held-out set", "file MiB", "RMSE float32", "RMSE stored",
                          "ΔRMSE relative", "R float32", "R stored"], rows, fmt="{:.4f}"))
        out.append("")
        out.append("bfloat16 autocast (the reference run's `--bf16` for ABPN and PointConv): the shipped trained "
                   "networks run on the same held-out inputs in float32 and under CPU bf16 autocast; the RMS of "
                   "the difference against the RMS of the float32 output's own error, in the networks' "
                   "normalised units (CPU autocast rounds to the same 8-bit mantissa as CUDA's; its operator "
                   "coverage differs, so this bounds the rounding, it does not replay a GPU run):")
        out.append("")
        out.append(table(["model", "RMS bf16 − float32", "RMS float32 − truth", "ratio"],
                         bf16_rows(quick, os.path.join(folder, "cache"), bench), fmt="{:.4f}"))
    return "\n".join(out)
