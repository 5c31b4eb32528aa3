"""Issue 4 — DeepCAMS: ABPN ×3 in space, XVFI ×3 in time and the chain, each beside its baseline
(bicubic, linear in time, linear+bicubic) on the same inputs in the same run; then speed."""
import os
import time

import numpy as np

from ..common import SHARED_DATA, measure_in_fresh_process, table
from ...core.baselines import bicubic, linear_in_time
from ...core.deepcams import block_mean, deepcams, sr_pairs
from ...core.frame_interp import interpolate_frames, load_xvfi
from ...core.metrics import score
from ...core.raster_io import read_raster
from ...core.superres import conserve_block_means, load_abpn, super_resolve

CAMS = os.path.join(SHARED_DATA, "cams_pm25_0p75_20191231.nc")
ERA5 = os.path.join(SHARED_DATA, "era5_t2m_uk_201903_hourly.nc")
BENCH_SEED = 20_000        # held out: training uses seed 0, validation 10,000
SIM_CACHE = "/tmp/airmap_sim"
TARGET = 0.85              # issue 4: model RMSE <= 0.85 x baseline RMSE on simulated fields


class _Scores:
    """Predictions and truths of several methods gathered over many frames, scored at once."""

    def __init__(self):
        self.pred, self.truth = {}, {}

    def add(self, name, pred, truth):
        self.pred.setdefault(name, []).append(np.asarray(pred, np.float64).ravel())
        self.truth.setdefault(name, []).append(np.asarray(truth, np.float64).ravel())

    def score(self, name):
        return score(np.concatenate(self.pred[name]), np.concatenate(self.truth[name]))


def _between(steps):
    """Mask of the frames that are not input frames in a ×3 stack of ``steps`` frames."""
    mask = np.ones(steps, bool)
    mask[::3] = False
    return mask


def wind_oracle(hourly, u, v, pixel):
    """Context for XVFI, not a method: frames t and t+3 h advected along the simulator's own
    mean wind to the hours between and blended linearly (what a perfect flow estimate would give
    if the change were pure transport)."""
    from scipy import ndimage

    steps, h, w = hourly.shape
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float64)
    out = np.array(hourly, dtype=np.float64)
    for i in range(0, steps - 3, 3):
        du = u[i:i + 4].mean(0) * 3600.0 / pixel          # cells per hour, east
        dv = -v[i:i + 4].mean(0) * 3600.0 / pixel         # rows per hour (rows run south)
        for k in (1, 2):
            a = ndimage.map_coordinates(hourly[i], [yy - dv * k, xx - du * k], order=1, mode="nearest")
            b = ndimage.map_coordinates(hourly[i + 3], [yy + dv * (3 - k), xx + du * (3 - k)], order=1,
                                        mode="nearest")
            out[i + k] = (1 - k / 3) * a + k / 3 * b
    return out


def _scenarios(count, days):
    """(hourly PM2.5, u, v, pixel size) of the held-out simulator scenarios."""
    from ...core.training_data import scenarios

    for sc in scenarios(count, size=96, days=days, seed=BENCH_SEED, cache_dir=SIM_CACHE):
        yield sc.pm25_hourly, sc.u_hourly, sc.v_hourly, sc.grid.res[0]


def simulated(abpn, xvfi, quick):
    count, days = (1, 1) if quick else (6, 2)
    s = _Scores()
    for hourly, u, v, pixel in _scenarios(count, days):
        steps = (hourly.shape[0] - 1) // 3 * 3 + 1
        hourly, u, v = hourly[:steps], u[:steps], v[:steps]
        # space: every hour's 3x3 block means -> x3
        coarse, fine = sr_pairs(hourly)
        frames = slice(0, steps, 4) if quick else slice(None)
        _add_space(s, coarse[frames], fine[frames], abpn)
        # time: 3-hourly -> hourly, at the coarse grid (where DeepCAMS interpolates) and the fine
        for grid_name, fields in (("coarse", coarse), ("fine", hourly)):
            kept = fields[::3]
            between = _between(steps)
            s.add(f"XVFI {grid_name}", interpolate_frames(kept, xvfi)[between], fields[between])
            s.add(f"linear {grid_name}", linear_in_time(kept, 3)[between], fields[between])
        s.add("wind oracle fine", wind_oracle(hourly, u, v, pixel)[between], hourly[between])
        # chain: 3-hourly coarse -> hourly fine, scored at every hour
        kept = coarse[::3]
        s.add("DeepCAMS", deepcams(kept, xvfi, abpn), fine)
        s.add("linear+bicubic", bicubic(linear_in_time(kept, 3), 3), fine)
    return s, count, days


def _add_space(s, coarse, fine, abpn):
    """ABPN (as the plugin runs it: block means conserved) and bicubic, plus the two context
    rows that separate what the network does from what the conservation step does."""
    s.add("ABPN", super_resolve(coarse, abpn), fine)
    s.add("ABPN raw", super_resolve(coarse, abpn, conserve=False), fine)
    up = bicubic(coarse, 3)
    s.add("bicubic", up, fine)
    s.add("bicubic conserved", conserve_block_means(up, coarse, non_negative=True), fine)


def real(abpn, xvfi, quick):
    s = _Scores()
    cams = read_raster(CAMS, variable="pm25").data
    cams = cams[:, : cams.shape[1] - cams.shape[1] % 3]
    if quick:
        cams = cams[:1, 90:150, 240:360]
    _add_space(s, block_mean(cams), cams, abpn)
    t2m = read_raster(ERA5, variable="t2m").data
    if quick:
        t2m = t2m[:25]
    steps = (t2m.shape[0] - 1) // 3 * 3 + 1
    t2m = t2m[:steps]
    between = _between(steps)
    s.add("XVFI", interpolate_frames(t2m[::3], xvfi)[between], t2m[between])
    s.add("linear", linear_in_time(t2m[::3], 3)[between], t2m[between])
    return s, cams.shape, int(between.sum())


# --- speed ----------------------------------------------------------------------------------------

def abpn_global_frame(threads):
    """One global 0.75° CAMS frame -> 0.25° with the shipped ONNX model (fresh process)."""
    from airmap.core.raster_io import read_raster as read
    from airmap.core.superres import load_abpn as load, super_resolve as sr

    frame = read(CAMS, variable="pm25").data[:1]
    sr(frame, load(threads=threads))


class _Eager:
    """A torch-eager stand-in for OnnxModel (same card, same call), for ``super_resolve``."""

    def __init__(self, onnx_model, threads):
        from ...models.abpn.eager import as_numpy_callable, eager_model

        self.card = onnx_model.card
        self._call = as_numpy_callable(eager_model(onnx_model.path, onnx_model.card, threads))

    def __call__(self, *arrays):
        return self._call(*arrays)


def _timed(fn, repeat=1):
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def speed(quick):
    rows = []
    threads = 1
    cams = read_raster(CAMS, variable="pm25").data
    if not quick:
        secs, rss = measure_in_fresh_process(abpn_global_frame, threads)
        rows.append(("ABPN ONNX, one global frame 241x480 -> 723x1440 (fresh process)", f"{secs:.1f}",
                     f"{rss:.0f}"))
    region = cams[:, 60:60 + (48 if quick else 96), 300:300 + (48 if quick else 192)]
    abpn = load_abpn(threads=threads)
    xvfi = load_xvfi(threads=threads)
    try:
        eager_abpn, eager_xvfi = _Eager(abpn, threads), _Eager(xvfi, threads)
    except ImportError:
        eager_abpn = eager_xvfi = None
    label = f"{region.shape[1]}x{region.shape[2]} cells"
    t_onnx = _timed(lambda: super_resolve(region[:1], abpn), 2)
    rows.append((f"ABPN ONNX Runtime, same tiles ({label})", f"{t_onnx:.2f}", ""))
    if eager_abpn is not None:
        t_eager = _timed(lambda: super_resolve(region[:1], eager_abpn), 2)
        rows.append((f"ABPN torch eager, same tiles ({label})", f"{t_eager:.2f}", ""))
    t_onnx = _timed(lambda: interpolate_frames(region[:2], xvfi), 2)
    rows.append((f"XVFI ONNX Runtime, one pair -> 2 frames ({label})", f"{t_onnx:.2f}", ""))
    if eager_xvfi is not None:
        t_eager = _timed(lambda: interpolate_frames(region[:2], eager_xvfi), 2)
        rows.append((f"XVFI torch eager, one pair -> 2 frames ({label})", f"{t_eager:.2f}", ""))
    if not quick:
        t_pairs = _timed(lambda: interpolate_frames(cams, xvfi))
        rows.append(("XVFI ONNX, global CAMS stack 4 -> 10 frames (241x480)", f"{t_pairs:.1f}", ""))
    return rows


# --- report ---------------------------------------------------------------------------------------

def _row(name, sc, base=None):
    row = [name, sc["RMSE"], sc["MAE"], sc["R"]]
    if base is not None:
        ratio = sc["RMSE"] / base["RMSE"]
        row += [f"{ratio:.3f}"]
    else:
        row += ["—"]
    return row


def _space_context(scores, base):
    return [_row("ABPN raw network output (no block-mean conservation)", scores.score("ABPN raw"), base),
            _row("bicubic + block-mean conservation", scores.score("bicubic conserved"), base)]


def _verdict(ratio, target=None):
    if target is None:
        return "met" if ratio < 1 else "**missed**"
    return "met" if ratio <= target else "**missed**"


def section(quick: bool) -> str:
    abpn, xvfi = load_abpn(threads=1), load_xvfi(threads=1)
    out = ["## DeepCAMS: XVFI ×3 in time, ABPN ×3 in space (issue 4)", ""]
    out.append(f"Models: `models/abpn/abpn.onnx` — {abpn.card['name']} ({abpn.card['parameters']:,} parameters); "
               f"`models/xvfi/xvfi.onnx` — {xvfi.card['name']} ({xvfi.card['parameters']:,} parameters); both "
               "trained only on the airmap simulator (model cards in models/*/README.md). ONNX Runtime on CPU, 1 thread.")
    out.append("")

    sim, count, days = simulated(abpn, xvfi, quick)
    header = ["method", "RMSE µg/m³", "MAE µg/m³", "R", "RMSE / baseline"]
    rows, verdicts = [], []
    for model, base, what in (("ABPN", "bicubic", "space ×3"), ("XVFI coarse", "linear coarse", "time ×3, coarse grid"),
                              ("XVFI fine", "linear fine", "time ×3, fine grid"),
                              ("DeepCAMS", "linear+bicubic", "chain: 3-hourly coarse -> hourly fine")):
        b, m = sim.score(base), sim.score(model)
        rows.append(_row(f"{model} ({what})", m, b))
        if model == "ABPN":
            rows += _space_context(sim, b)
        rows.append(_row(f"{base}", b))
        ratio = m["RMSE"] / b["RMSE"]
        target = TARGET if model in ("ABPN", "XVFI coarse", "XVFI fine") else None
        verdicts.append(f"{model} vs {base}: RMSE ratio {ratio:.3f} — target "
                        f"{'≤ %.2f' % target if target else '< 1'} {_verdict(ratio, target)}")
    out.append(f"### Simulated held-out fields ({count} scenarios × {days} days hourly, 96×96 cells of 5 km, "
               f"seed {BENCH_SEED}; coarse = 3×3 block means, 3-hourly = every third hour)")
    out.append("")
    out.append(table(header, rows))
    out.append("")
    out += [f"- {v}" for v in verdicts]
    val = abpn.card["metrics"].get("held_out_simulated", {})
    if "abpn" in val and "bicubic" in val:
        out.append(f"- ABPN comment: on the 6 validation scenarios of its training run (seed 10,000) the shipped "
                   f"network reached {val['abpn']['RMSE'] / val['bicubic']['RMSE']:.2f} x bicubic; the ratio varies "
                   "with how much sub-grid plume structure a scenario set holds (the card's figure is the raw "
                   "network). It is the reduced configuration (4 up / 3 down blocks; "
                   f"{abpn.card['training']['budget']}); the DeepCAMS configuration (10 / 9 blocks) "
                   "needs a GPU budget to train.")
        out.append("- Block-mean conservation (core/superres.py, on by default): each 3×3 block of the output is "
                   "rescaled to average to its input cell. It is a deviation from DeepCAMS; the two context rows "
                   "show the network without it and bicubic with it, so its share of the gain is visible.")
    oracle, lin = sim.score("wind oracle fine"), sim.score("linear fine")
    out.append(f"- Context for the XVFI target: advecting frames t and t+3 h along the simulator's *true* mean wind "
               f"(a perfect transport-only flow) gives RMSE {oracle['RMSE']:.3f} on the fine grid, "
               f"{oracle['RMSE'] / lin['RMSE']:.2f} x linear. In these fields the change between two 3-hourly "
               "frames is mostly emission cycles, boundary-layer growth and chemistry rather than motion, so a "
               "flow-based interpolator has little to gain over linear blending here; the paper's 0.84 came "
               "from GEOS-CF, where transport dominates at 0.25°.")
    out.append("")

    rl, shape, n_between = real(abpn, xvfi, quick)
    rows = []
    a, b = rl.score("ABPN"), rl.score("bicubic")
    rows += [_row("ABPN (CAMS 2.25° -> 0.75°)", a, b)] + _space_context(rl, b) + [_row("bicubic", b)]
    x, l = rl.score("XVFI"), rl.score("linear")
    rows += [_row(f"XVFI (ERA5 t2m, every 3rd hour -> {n_between} hours between)", x, l), _row("linear in time", l)]
    out.append("### Real data")
    out.append("")
    out.append("CAMS self-similarity: the real 0.75° PM2.5 (µg/m³, %d frames of %d×%d) averaged 3×3 to 2.25° and "
               "downscaled back. ERA5 2 m temperature (K) over the UK: every third hour kept, the two between "
               "interpolated. (Units: µg/m³ for CAMS, K for ERA5.)" % shape)
    out.append("")
    out.append(table(["method", "RMSE", "MAE", "R", "RMSE / baseline"], rows))
    out.append("")
    out.append(f"- ABPN vs bicubic on CAMS: ratio {a['RMSE'] / b['RMSE']:.3f} — {_verdict(a['RMSE'] / b['RMSE'])}")
    out.append(f"- XVFI vs linear on ERA5: ratio {x['RMSE'] / l['RMSE']:.3f} — {_verdict(x['RMSE'] / l['RMSE'])}. "
               "2 m temperature between 3-hourly frames changes mostly by diurnal heating and cooling in place, "
               "which XVFI (trained on simulated PM2.5 only) cannot model better than a linear blend.")
    out.append("")

    out.append("### Speed and memory (CPU, 1 thread)")
    out.append("")
    out.append(table(["run", "seconds", "peak RSS MiB"], speed(quick)))
    out.append("")
    out.append(f"ABPN tiles: {abpn.card['tile']['size']} coarse cells with {abpn.card['tile']['overlap']} overlap "
               f"(attention is quadratic in tile area; the tile-size measurements are in models/abpn/README.md).")
    return "\n".join(out)
