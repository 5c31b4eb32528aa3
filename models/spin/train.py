"""Train SPIN on the Beijing training months with dynamic node masking.

    PYTHONPATH=.pkg OMP_NUM_THREADS=1 .venv/bin/python -m airmap.models.spin.train --out /tmp/spin --steps 3000

Writes ``<out>/spin.pt`` (weights, config, run record); ``export.py`` makes the ONNX file.
"""
from __future__ import annotations

import argparse

import numpy as np
import torch

from ...core.errors import AirmapInputError
from ...core.timeseries import graphs
from ...core.timeseries.normalise import window_divisor
from .. import node_masking
from ..training_loop import add_run_arguments, describe, fit, start_run
from .losses import spin_loss
from .export import export
from .net import SPIN, InitHead

SIGMA_KM = 20.0      # diffusion kernel width: a few inter-station spacings of a city network
CUTOFF_KM = 3 * SIGMA_KM  # no edge beyond 3 sigma
AOD_WEIGHT = 0.1       # weight of the AOD gradient term when an AOD stack is given
ADVECTION_SHARE = 0.8  # samples with the advection kernel; the rest learn the no-wind fallback (0 = diffusion only)


def batch(data, rng, length: int, size: int, normalisation: dict, sigma_km: float = SIGMA_KM,
          cutoff_km: float = CUTOFF_KM, aod: np.ndarray = None, advection_share: float = ADVECTION_SHARE,
          mask_share=node_masking.MASK_SHARE):
    """Tensors of one batch: value, observed, wind, a_diff, a_adv, truth, hidden (normalised),
    and the AOD at the nodes (NaN where none) when an (S, T) ``aod`` table is given, else None."""
    n = node_masking.subgraph_size(data, rng)
    parts, aods = [], []
    for _ in range(size):
        pick, t0, truth, inp, hidden, wind = node_masking.sample(data, rng, length, n, mask_share)
        if aod is not None:
            aods.append(aod[pick, t0:t0 + length])
        observed = np.isfinite(inp)
        advection = rng.random() < advection_share
        a_diff, a_adv = graphs.spin_supports(data.lon[pick], data.lat[pick], observed, wind[0], wind[1],
                                             sigma_km, cutoff_km, advection)
        scale = window_divisor(normalisation, inp)
        parts.append((np.where(observed, inp, 0.0) / scale, observed, np.moveaxis(wind, 0, -1),
                      a_diff, a_adv, truth / scale, np.repeat(hidden[:, None], length, 1)))
    tensors = [torch.from_numpy(np.stack(p).astype(np.float32)) for p in zip(*parts)]
    return tensors + [torch.from_numpy(np.stack(aods).astype(np.float32)) if aods else None]


def aod_table(path: str, data) -> np.ndarray:
    """(stations, hours) AOD of a lon/lat raster stack whose band descriptions are times, at the
    training stations and hours (NaN where no band or no data). AOD is a loss term, never an input."""
    from ...core.raster_io import read_raster
    from ...core.timeseries.times import parse_time
    from ...core.timeseries.wind import sample_stack

    raster = read_raster(path)
    if raster.grid.crs not in ("EPSG:4326", "OGC:CRS84"):
        raise AirmapInputError(f"{path}: the AOD stack must be on a lon/lat grid (EPSG:4326), not {raster.grid.crs}.")
    stamps = [parse_time(n) for n in raster.band_names]
    if any(t is None for t in stamps):
        raise AirmapInputError(f"{path}: every band description must be a time (e.g. 2014-07-01T05:00:00).")
    times = np.array([t.replace(tzinfo=None) for t in stamps], dtype="datetime64[s]")
    return sample_stack(raster.data, raster.grid, times, data.lon, data.lat, data.times)


def train(args: argparse.Namespace) -> str:
    rng, say, _ = start_run(args.out, args.seed)
    data = node_masking.training_data(until=args.until, exclude_share=args.exclude_share,
                                      all_months=args.all_months)
    say(data.describe())
    config = {"channels": args.channels, "dilations": [int(d) for d in args.dilations.split(",")], "layers": args.layers}
    if args.sharpen:
        config["sharpen"] = [float(p) for p in args.sharpen.split(",")]
    if args.sharpen_layers:
        config["sharpen_layers"] = True
    model = SPIN(**config)
    describe(model, config, say)
    head = InitHead(args.channels)
    trained = torch.nn.ModuleDict({"spin": model, "init_head": head})
    normalisation = node_masking.normalisation_card(args.norm)
    mask_share = [float(x) for x in args.mask_share.split(",")] if args.mask_share else node_masking.MASK_SHARE
    if args.init:  # fine-tuning: start from an earlier run's weights (plain tensors only)
        start = torch.load(args.init, map_location="cpu", weights_only=True)
        model.load_state_dict(start["state_dict"])
        say(f"initialised from {args.init}")
    aod = aod_table(args.aod, data) if args.aod else None
    if aod is not None:
        say(f"AOD gradient term: {np.isfinite(aod).mean() * 100:.1f} % of station-hours have AOD")

    def step_loss(step):
        value, observed, wind, a_diff, a_adv, truth, hidden, aod_batch = batch(
            data, rng, args.window, args.batch, normalisation, args.sigma_km, args.cutoff_sigmas * args.sigma_km, aod,
            args.advection_share, mask_share)
        init, h = model.encode(value, observed, wind, a_diff, a_adv)
        estimate, first = model.decode(init, h, a_diff, a_adv), head(init, h)
        neighbours = None if aod_batch is None else a_diff.sum(dim=1)
        return spin_loss(estimate, first, truth, hidden, aod=aod_batch, neighbours=neighbours,
                         aod_weight=args.aod_weight)

    minutes = fit(trained, step_loss, args.steps, args.lr, say)
    masking = dict(node_masking.masking_record(data, mask_share), advection_share=args.advection_share)
    return node_masking.save_run(
        args, say, "airmap.models.spin.train", "spin", model, config, data, minutes,
        {"masking": masking,
         "loss": "L1 inference at hidden nodes + 0.5 x L1 of the initialisation head"
                 + (f" + {args.aod_weight} x AOD gradient term" if aod is not None else " (no AOD given)")},
        {"sigma_km": args.sigma_km, "cutoff_km": args.cutoff_sigmas * args.sigma_km,
         "advection": args.advection_share > 0}, normalisation,
        (export, "spin" if args.advection_share > 0 else "spin_diffusion"))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__)
    add_run_arguments(ap)
    node_masking.add_series_arguments(ap, lr=2e-3, window=48, norm="window_mean")
    ap.add_argument("--channels", type=int, default=32)
    ap.add_argument("--layers", type=int, default=2)
    ap.add_argument("--dilations", default="1,2,4", help="the TCN's dilations, comma-separated")
    ap.add_argument("--mask-share", default=None,
                    help="lowest,highest share of a sample's nodes hidden (default %s,%s)" % node_masking.MASK_SHARE)
    ap.add_argument("--sharpen", default=None,
                    help="powers p of extra diffusion-mean features at sigma / sqrt(p), comma-separated (e.g. 4)")
    ap.add_argument("--sharpen-layers", action="store_true",
                    help="the graph layers also propagate over the --sharpen supports")
    ap.add_argument("--sigma-km", type=float, default=SIGMA_KM)
    ap.add_argument("--cutoff-sigmas", type=float, default=CUTOFF_KM / SIGMA_KM)
    ap.add_argument("--aod", default=None, help="AOD raster stack (lon/lat, band descriptions = times): loss only")
    ap.add_argument("--aod-weight", type=float, default=AOD_WEIGHT)
    ap.add_argument("--init", default=None, help="fine-tune from this train.py checkpoint (.pt)")
    ap.add_argument("--advection-share", type=float, default=ADVECTION_SHARE,
                    help="share of samples with the advection kernel on; 0 trains a diffusion-only SPIN")
    train(ap.parse_args(argv))


if __name__ == "__main__":
    main()
