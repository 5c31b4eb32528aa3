"""Where a batch runs: in this process, on a LocalCluster of N worker processes, or on an
existing Dask cluster given by its scheduler address (dask-kubernetes, dask-jobqueue, ...)."""
from __future__ import annotations

import contextlib
import os
import re
import shutil
import sys
from typing import Iterator, Optional

from ..errors import AirmapInputError

CONNECT_TIMEOUT_S = 5


def describe(scheduler: Optional[str]) -> str:
    spec = (scheduler or "").strip()
    return "in-process" if not spec else spec


def _python_for_workers() -> None:
    """Worker processes are started with sys.executable; inside QGIS that is the QGIS binary,
    so point multiprocessing at the Python interpreter instead."""
    import multiprocessing

    if not os.path.basename(sys.executable).startswith("python"):
        python = shutil.which("python3")
        if python:
            multiprocessing.set_executable(python)


@contextlib.contextmanager
def connect(scheduler: Optional[str]) -> Iterator[Optional[object]]:
    """A ``distributed.Client`` for ``scheduler`` (None for in-process), closed on exit.

    ``""`` or None: in-process; ``local:N``: a LocalCluster of N single-threaded worker
    processes, closed with the client; ``tcp://host:port`` (or any address distributed takes):
    an existing cluster, which must answer within ``CONNECT_TIMEOUT_S`` seconds."""
    spec = (scheduler or "").strip()
    if not spec:
        yield None
        return
    from distributed import Client, LocalCluster

    local = re.fullmatch(r"local(?::(\d+))?", spec)
    if local:
        workers = int(local.group(1) or 1)
        if workers < 1:
            raise AirmapInputError(f"SCHEDULER '{spec}': a local cluster needs at least one worker.")
        _python_for_workers()
        cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                               dashboard_address=None, silence_logs=40)
        client = Client(cluster)
        try:
            yield client
        finally:
            client.close()
            cluster.close()
        return
    if "://" not in spec and not re.fullmatch(r"[\w.\-]+:\d+", spec):
        raise AirmapInputError(f"SCHEDULER '{spec}' is not understood: leave it empty (in-process), "
                               "write local:N (N worker processes here) or a scheduler address such as "
                               "tcp://host:8786.")
    try:
        client = Client(spec, timeout=f"{CONNECT_TIMEOUT_S}s")
    except (OSError, TimeoutError) as exc:
        raise AirmapInputError(f"No Dask scheduler answered at '{spec}' within {CONNECT_TIMEOUT_S} s ({exc}): "
                               "check the address and that the scheduler runs, or leave SCHEDULER empty "
                               "to run in-process.") from None
    try:
        yield client
    finally:
        client.close()
