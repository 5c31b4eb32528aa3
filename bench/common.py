"""Helpers shared by benchmark sections: tables, timing and peak memory in a fresh process."""
import multiprocessing as mp
import os
import resource
import time

REPO = os.path.dirname(os.path.dirname(os.path.realpath(__file__)))
SHARED_DATA = os.path.normpath(os.path.join(REPO, "..", "shared", "data"))


def table(header, rows, fmt="{:.3f}"):
    """A Markdown table; floats formatted with ``fmt``."""
    def cell(v):
        return fmt.format(v) if isinstance(v, float) else str(v)

    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


def _child(conn, fn, args):
    try:
        start = time.perf_counter()
        fn(*args)
        elapsed = time.perf_counter() - start
        conn.send((elapsed, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0, None))
    except Exception as exc:  # reported to the parent, not raised in the child
        conn.send((None, None, repr(exc)))


def measure_in_fresh_process(fn, *args):
    """(seconds, peak RSS MiB) of ``fn(*args)`` in a spawned process, so one measurement's
    memory does not hide another's. ``fn`` must be importable (module level)."""
    ctx = mp.get_context("spawn")
    parent, child = ctx.Pipe()
    proc = ctx.Process(target=_child, args=(child, fn, args))
    proc.start()
    elapsed, rss, err = parent.recv()
    proc.join()
    if err:
        raise RuntimeError(err)
    return elapsed, rss
