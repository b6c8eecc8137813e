"""Which process this is, and the launch of a stage's processes under torchrun; no torch import.

Torch-free so that the small stages (gathers, reports, evaluations) start without importing
torch: every stage reads its rank through :func:`wsss.stage.run_stage`.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from pathlib import Path

log = logging.getLogger(__name__)


def rank() -> int:
    """This process's rank (0 without torchrun)."""
    return int(os.environ.get("RANK", 0))


def world_size() -> int:
    """How many processes train together (1 without torchrun)."""
    return int(os.environ.get("WORLD_SIZE", 1))


def local_rank() -> int:
    """This process's index on its machine, which picks its GPU."""
    return int(os.environ.get("LOCAL_RANK", 0))


def is_main() -> bool:
    """Only the main process writes checkpoints, histories and logs, so each is written once."""
    return rank() == 0


def launched() -> bool:
    """Whether this process was started by torchrun (which sets WORLD_SIZE)."""
    return "WORLD_SIZE" in os.environ


def relaunch(script: str | os.PathLike, kwargs: dict, devices: int, log_file: str | None) -> None:
    """Run ``script`` with ``kwargs`` (as ``--name value`` JSON) in ``devices`` processes under torchrun.

    Each process gets ``threads / devices`` threads (its CPU share). Raises naming the script and
    the log when a process fails.
    """
    arguments = dict(kwargs)
    if "threads" in arguments:
        arguments["threads"] = max(1, int(arguments["threads"]) // devices)
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc-per-node={devices}"]
    command.append(str(script))
    for name, value in arguments.items():
        command += [f"--{name.replace('_', '-')}", json.dumps(value)]
    if log_file:
        command += ["--log-file", str(log_file)]  # not --log: torchrun finds that ambiguous
    log.info("%s: %d processes under torch.distributed.run", Path(script).name, devices)
    for handler in logging.getLogger().handlers:
        handler.flush()
    result = subprocess.run(command, check=False)
    if result.returncode != 0:
        raise RuntimeError(
            f"{script}: training in {devices} processes failed (exit {result.returncode}); see {log_file or 'stderr'}"
        )
