"""``python -m airmap.batch``: airmap:batch for headless servers (no QGIS needed).

    python -m airmap.batch abpn cams_2019.nc cams_2019_x3.zarr --scheduler local:4
    python -m airmap.batch idw stations_long.csv pm25_daily.nc \\
        --parameters '{"FIELD": "pm25", "PIXEL_SIZE": 0.1}' --start 2019-01-01 --end 2019-12-31 \\
        --scheduler tcp://scheduler:8786
"""
import argparse
import json
import sys


def main(argv=None) -> int:
    from .core.batch import METHODS, run_batch
    from .core.errors import AirmapInputError
    from .core.progress import Progress

    parser = argparse.ArgumentParser(prog="python -m airmap.batch", description=__doc__.split("\n\n")[0])
    parser.add_argument("method", choices=list(METHODS), help="the method's id without 'airmap:'")
    parser.add_argument("input", help="NetCDF/Zarr with a CF time axis, GeoTIFF folder, band stack or station CSV")
    parser.add_argument("output", help="a .nc or .zarr path")
    parser.add_argument("--parameters", default="{}", help="the method's parameters as JSON (METHOD_PARAMETERS)")
    parser.add_argument("--start", default=None, help="first time (ISO)")
    parser.add_argument("--end", default=None, help="last time (ISO)")
    parser.add_argument("--scheduler", default=None, help="empty, local:N or tcp://host:port")
    parser.add_argument("--chunk", type=int, default=None, help="input frames per task and output time chunk")
    args = parser.parse_args(argv)
    try:
        params = json.loads(args.parameters)
        if not isinstance(params, dict):
            raise ValueError("not a JSON object")
    except ValueError as exc:
        print(f"--parameters is not a JSON object ({exc})", file=sys.stderr)
        return 2
    last = [-1]

    def report(fraction):
        step = int(fraction * 20)
        if step != last[0]:
            last[0] = step
            print(f"{fraction * 100:5.1f} %", file=sys.stderr, flush=True)

    extra = {"chunk_frames": args.chunk} if args.chunk else {}
    try:
        result = run_batch(args.method, args.input, args.output, params, start=args.start, end=args.end,
                           scheduler=args.scheduler, progress=Progress(report, log=lambda m: print(m, file=sys.stderr)),
                           **extra)
    except AirmapInputError as exc:
        print(f"airmap.batch: {exc}", file=sys.stderr)
        return 1
    print(json.dumps({"output": result.output, "frames": result.frames, "chunks": result.chunks,
                      "computed": result.computed, "skipped": result.skipped, "seconds": round(result.seconds, 2),
                      "scheduler": result.scheduler}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
