"""Running independent per-image work on every core."""

from __future__ import annotations

import multiprocessing
from collections.abc import Callable, Iterable
from concurrent.futures import ProcessPoolExecutor
from typing import TypeVar

Item = TypeVar("Item")
Result = TypeVar("Result")


def map_in_processes(
    function: Callable[[Item], Result], items: Iterable[Item], workers: int, chunksize: int = 8
) -> list[Result]:
    """``[function(i) for i in items]`` in ``workers`` processes (in this one when workers <= 1).

    ``function`` must be a module-level function of the library. Workers start from a fork
    server, not a fork of this process, so a parent that already ran torch's thread pools
    cannot deadlock them. An exception in a worker is raised here.
    """
    items = list(items)
    if workers <= 1 or len(items) <= 1:
        return [function(item) for item in items]
    context = multiprocessing.get_context("forkserver")
    with ProcessPoolExecutor(max_workers=min(workers, len(items)), mp_context=context) as pool:
        return list(pool.map(function, items, chunksize=chunksize))
