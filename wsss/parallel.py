"""Running independent per-image work on every core."""

from __future__ import annotations

import multiprocessing
import os
import sys
from collections.abc import Callable, Iterable
from concurrent.futures import ProcessPoolExecutor
from typing import TypeVar

from wsss.progress import Progress

Item = TypeVar("Item")
Result = TypeVar("Result")


def use_threads(threads: int) -> None:
    """Compute on ``threads`` threads: torch's (if imported) and OpenMP's and BLAS's, also in libraries
    loaded later. Each worker of :func:`map_in_processes` takes one: the workers already fill the
    cores, and workers that each run a pool of threads spend most of their time contending (the
    demo's view rendering took 6x longer in two workers than in one process)."""
    for variable in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ[variable] = str(threads)
    if "torch" in sys.modules:
        sys.modules["torch"].set_num_threads(threads)


def map_in_processes(
    function: Callable[[Item], Result],
    items: Iterable[Item],
    workers: int,
    chunksize: int = 8,
    progress: Progress | None = None,
) -> list[Result]:
    """``[function(i) for i in items]`` in ``workers`` processes (in this one when workers <= 1).

    ``function`` must be a module-level function of the library. Workers start from a fork
    server, not a fork of this process, so a parent that already ran torch's thread pools
    cannot deadlock them; each worker computes on one thread. An exception in a worker is raised
    here. ``progress`` advances per item.
    """
    items = list(items)
    results = []
    if workers <= 1 or len(items) <= 1:
        mapped = map(function, items)
        for result in mapped:
            results.append(result)
            if progress is not None:
                progress.advance()
        return results
    context = multiprocessing.get_context("forkserver")
    with ProcessPoolExecutor(
        max_workers=min(workers, len(items)), mp_context=context, initializer=use_threads, initargs=(1,)
    ) as pool:
        for result in pool.map(function, items, chunksize=chunksize):
            results.append(result)
            if progress is not None:
                progress.advance()
    return results
