"""Resuming the segmenter only from states the project can vouch for, and never running code.

mmengine resumes from whatever ``<work_dir>/last_checkpoint`` names. Its checkpoints pickle a few
Python objects besides tensors (the message hub's HistoryBuffers, numpy arrays and scalars), so
they would need weights_only=False, which runs any code a file carries. Instead every checkpoint
loads weights-only with exactly those objects allowed (:func:`load_resume_checkpoint`): a file
pickling anything else is refused unrun, whatever its record says (anyone who can write the file
can write its record).

The records are kept for what they tell: each checkpoint mmengine saves gets one beside it
(``<file>.sha256.json``: size, sha256, iteration), and ``run.json`` holds the key of the run (its
settings and the content of its inputs). Before training, :func:`prepare_work_dir` sets aside every
candidate checkpoint whose record does not match (truncated, or not written by this pipeline) or
that does not load weights-only, drops the state of a run with another key, and points
``last_checkpoint`` at the newest verified checkpoint, if any.
"""

from __future__ import annotations

import json
import logging
import os
import pickle
import re
import shutil
from pathlib import Path

import numpy as np
import torch

from wsss.checkpoints import file_sha256, set_aside, unsupported_global
from wsss.io import write_json

log = logging.getLogger(__name__)

RECORD_SUFFIX = ".sha256.json"
RUN_KEY = "run.json"
# The methods a HistoryBuffer pickles with its state (mmengine's default statistics; the pipeline
# registers no others). Pickle protocol 2 writes each as getattr(HistoryBuffer, name).
HISTORY_STATISTICS = ("min", "max", "current", "mean")


def _history_statistic(owner: type, name: str):
    """What stands for ``builtins.getattr`` while a resume checkpoint loads: only HistoryBuffer's
    statistics methods are looked up, any other attribute of anything is refused."""
    from mmengine.logging.history_buffer import HistoryBuffer

    if owner is HistoryBuffer and name in HISTORY_STATISTICS:
        return getattr(HistoryBuffer, name)
    raise pickle.UnpicklingError(
        f"getattr({(owner if isinstance(owner, type) else type(owner)).__qualname__}, {name!r}) refused: "
        f"only HistoryBuffer's {', '.join(HISTORY_STATISTICS)} are looked up"
    )


def resume_safe_globals() -> list:
    """The Python objects besides tensors that an mmengine resume checkpoint of this pipeline pickles.

    Its message hub holds HistoryBuffers (a float64 array of logged values, an int64 array of
    counts, and the statistics methods, see :func:`_history_statistic`) and a numpy float64 (the
    eta); numpy pickles an array as ``_reconstruct(ndarray, ...)`` built from a ``dtype`` (whose
    class must be allowed for its state to be set) and a scalar as ``scalar(dtype, bytes)``.
    The rest (meta, optimiser and scheduler states) is plain dicts, lists, numbers and tensors.
    """
    from mmengine.logging.history_buffer import HistoryBuffer

    reconstruct = np.zeros(1).__reduce__()[0]  # numpy._core.multiarray._reconstruct (numpy.core in numpy 1)
    scalar = np.float64(0).__reduce__()[0]  # numpy._core.multiarray.scalar
    return [
        HistoryBuffer,
        (_history_statistic, "builtins.getattr"),
        np.ndarray,
        reconstruct,
        np.dtype,
        type(np.dtype(np.float64)),
        type(np.dtype(np.int64)),
        scalar,
    ]


def load_resume_checkpoint(path: str | os.PathLike, map_location=None) -> dict:
    """``torch.load`` of an mmengine checkpoint, weights-only with :func:`resume_safe_globals` allowed:
    nothing in the file can run code; a file pickling other objects raises ``pickle.UnpicklingError``."""
    with torch.serialization.safe_globals(resume_safe_globals()):
        return torch.load(path, map_location=map_location, weights_only=True)


def unloadable(checkpoint: Path) -> str | None:
    """Why ``checkpoint`` does not load as a resume checkpoint (weights-only, tensors on the meta
    device so no data is read), or None if it does."""
    try:
        load_resume_checkpoint(checkpoint, map_location="meta")
    except Exception as exc:  # torch raises many kinds for a damaged or foreign file
        refused = unsupported_global(exc)
        if refused is None:
            found = re.search(r"WeightsUnpickler error:\s*(.+?)\s*(?:\n\nCheck the documentation|$)", str(exc), re.S)
            refused = found.group(1) if found else None
        if refused is not None:
            return f"pickles Python objects a checkpoint of this pipeline never holds ({refused}), refused unrun"
        return f"does not load as a checkpoint ({type(exc).__name__}: {exc})"
    return None


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

    A checkpoint is verified if it matches its record and loads weights-only (:func:`unloadable`).
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
        why = (
            "no matching integrity record (truncated, or not written by this pipeline), never unpickled"
            if record is None
            else unloadable(checkpoint)
        )
        if why:
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
