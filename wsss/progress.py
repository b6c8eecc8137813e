"""Progress of long loops: a tqdm bar on a terminal, and a log line every few percent for log files.

Snakemake sends each stage's log to a file where a bar would be hundreds of carriage returns, so
the log gets plain lines ("make_cam: 40% (300/750 images), 12.5 images/s, 36 s left") while a
person at a terminal also sees the bar.
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Iterable, Iterator
from typing import TypeVar

from tqdm import tqdm

Item = TypeVar("Item")


class Progress:
    """Counts steps towards ``total`` and reports the rate of ``unit`` and the time left."""

    def __init__(
        self, total: int, what: str, unit: str = "images", every: float = 0.1, logger: logging.Logger | None = None
    ):
        self.total, self.what, self.unit, self.every = max(0, int(total)), what, unit, every
        self.log = logger or logging.getLogger(what)
        self.done = 0
        self.start = time.perf_counter()
        self.next_report = every
        self.bar = tqdm(total=self.total, desc=what, unit=unit, leave=False, disable=not sys.stderr.isatty())

    def advance(self, steps: int = 1) -> None:
        """Record ``steps`` more done; log when another ``every`` of the total is reached."""
        self.done += steps
        self.bar.update(steps)
        if self.total and self.done / self.total >= self.next_report - 1e-9:
            self.log.info("%s", self.line())
            while self.next_report <= self.done / self.total + 1e-9:
                self.next_report += self.every

    def line(self) -> str:
        """'what: 40% (300/750 images), 12.5 images/s, 36 s left'."""
        seconds = time.perf_counter() - self.start
        rate = self.done / seconds if seconds > 0 else 0.0
        left = (self.total - self.done) / rate if rate > 0 else float("nan")
        return (
            f"{self.what}: {self.done / self.total:.0%} ({self.done}/{self.total} {self.unit}), "
            f"{rate:.3g} {self.unit}/s, {left:.0f} s left"
        )

    def close(self) -> None:
        self.bar.close()


def track(
    items: Iterable[Item], total: int, what: str, unit: str = "images", logger: logging.Logger | None = None
) -> Iterator[Item]:
    """Yield ``items``, reporting progress as each one is done."""
    progress = Progress(total, what, unit, logger=logger)
    try:
        for item in items:
            yield item
            progress.advance()
    finally:
        progress.close()
