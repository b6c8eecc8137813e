"""Resuming the segmenter only from states the project can vouch for.

mmengine resumes from whatever ``<work_dir>/last_checkpoint`` names, and its checkpoints must be
unpickled in full (weights_only=False), which runs any code a foreign file carries. So each
checkpoint mmengine saves gets a record beside it (``<file>.sha256.json``: size, sha256,
iteration), and ``run.json`` holds the key of the run (its settings and the content of its
inputs). Before training, :func:`prepare_work_dir` sets aside every candidate checkpoint whose
record does not match (truncated, or not written by this pipeline), drops the state of a run
with another key, and points ``last_checkpoint`` at the newest verified checkpoint, if any.
"""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path

from wsss.checkpoints import file_sha256, set_aside
from wsss.io import write_json

log = logging.getLogger(__name__)

RECORD_SUFFIX = ".sha256.json"
RUN_KEY = "run.json"


def record_path(checkpoint: Path) -> Path:
    return checkpoint.with_name(checkpoint.name + RECORD_SUFFIX)


def write_record(checkpoint: Path, iteration: int) -> None:
    """Record the size and sha256 of a checkpoint just saved by this pipeline."""
    record = {"bytes": checkpoint.stat().st_size, "sha256": file_sha256(checkpoint), "iteration": iteration}
    write_json(record_path(checkpoint), record)


def verified_record(checkpoint: Path) -> dict | None:
    """The checkpoint's record if the file still has the recorded size and sha256, else None."""
    try:
        record = json.loads(record_path(checkpoint).read_text())
        if checkpoint.stat().st_size == record["bytes"] and file_sha256(checkpoint) == record["sha256"]:
            return record
    except (OSError, ValueError, KeyError, TypeError):
        pass
    return None


def prepare_work_dir(work_dir: Path, key: dict) -> int | None:
    """Leave ``work_dir`` holding only a verified state of a run with ``key``; return its iteration or None.

    Unverified checkpoints are set aside into ``<work_dir>.rejected/`` (kept to be looked at, as
    the work folder goes once training succeeds); a run with another key starts afresh.
    """
    pointer = work_dir / "last_checkpoint"
    candidates = set(work_dir.glob("iter_*.pth"))
    if pointer.is_file():
        named = Path(pointer.read_text().strip()).expanduser().resolve()
        if named.parent == work_dir.resolve() and named.is_file():
            candidates.add(work_dir / named.name)
        elif not named.is_file():
            log.warning("%s names %s, which is missing", pointer, named)
        else:
            log.warning("%s names %s, outside the work folder: not resumed from", pointer, named)
    verified = {}
    for checkpoint in sorted(candidates):
        record = verified_record(checkpoint)
        if record is None:
            why = "no matching integrity record (truncated, or not written by this pipeline), never unpickled"
            set_aside(checkpoint, why, work_dir.with_name(work_dir.name + ".rejected"))
        else:
            verified[checkpoint] = record
    try:
        old_key = json.loads((work_dir / RUN_KEY).read_text())
    except (OSError, ValueError):
        old_key = None
    if verified and old_key != key:
        changed = sorted(name for name in {*(old_key or {}), *key} if (old_key or {}).get(name) != key.get(name))
        log.warning("%s: left by a run with other %s; training starts afresh", work_dir, ", ".join(changed))
    if not verified or old_key != key:
        shutil.rmtree(work_dir, ignore_errors=True)
        work_dir.mkdir(parents=True)
        write_json(work_dir / RUN_KEY, key)
        return None
    newest = max(verified, key=lambda checkpoint: verified[checkpoint]["iteration"])
    pointer.write_text(str(newest))
    log.info("resuming from %s (verified, iteration %d)", newest, verified[newest]["iteration"])
    return int(verified[newest]["iteration"])
