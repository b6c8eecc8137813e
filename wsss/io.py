"""File I/O that never leaves half-written artifacts: write to a temporary name, then rename."""

from __future__ import annotations

import contextlib
import errno
import glob
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from wsss.errors import WriteError
from wsss.palette import voc_palette


def _current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _as_normal_file(path: Path, directory: bool = False) -> None:
    """Give a temporary file or folder the permissions a plain ``open``/``mkdir`` would have.

    mkstemp and mkdtemp create them private (0600 / 0700); results on a shared machine must be
    readable by whoever the user's umask lets read them.
    """
    path.chmod((0o777 if directory else 0o666) & ~_current_umask())


def _remove_leftovers(path: Path) -> None:
    """Delete temporaries of ``path`` left by a killed run (``.name.*.tmp*`` siblings, ``.name.old``)."""
    for leftover in path.parent.glob(f".{glob.escape(path.name)}.*.tmp*"):
        if leftover.is_dir():
            shutil.rmtree(leftover, ignore_errors=True)
        else:
            leftover.unlink(missing_ok=True)
    shutil.rmtree(path.with_name(f".{path.name}.old"), ignore_errors=True)


# What torch.save's C++ writer raises (a RuntimeError) when a write fails, a full disk the usual cause.
_TORCH_WRITE_FAILURES = ("file write failed", "iostream error", "unexpected pos", "PytorchStreamWriter failed")


def _size(count: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if count < 1024 or unit == "TiB":
            return f"{count:.0f} {unit}" if unit == "B" else f"{count:.1f} {unit}"
        count /= 1024
    raise AssertionError("unreachable")


def _free_space(path: Path) -> str:
    """'<free> free of <total> on its filesystem', that of the folder that holds ``path``."""
    try:
        usage = shutil.disk_usage(path.parent)
    except OSError as exc:
        return f"the free space of its filesystem unknown ({exc})"
    return f"{_size(usage.free)} free of {_size(usage.total)} on its filesystem"


@contextlib.contextmanager
def _naming_a_full_disk(path: Path) -> Iterator[None]:
    """Turn a write that failed for want of space (ENOSPC, EDQUOT, or torch.save's C++ writer, whose
    'file write failed' or 'basic_ios::clear: iostream error' says nothing of space) into a WriteError
    naming ``path`` and the free space of its filesystem."""
    try:
        yield
    except OSError as exc:
        if isinstance(exc, WriteError) or exc.errno not in (errno.ENOSPC, errno.EDQUOT):
            raise
        what = "no space left on the device" if exc.errno == errno.ENOSPC else "disk quota exceeded"
        raise WriteError(
            f"writing {path} failed: {what}, {_free_space(path)}; free some space or write the results "
            f"elsewhere, then rerun ({exc})"
        ) from exc
    except RuntimeError as exc:
        if not any(marker in str(exc) for marker in _TORCH_WRITE_FAILURES):
            raise
        raise WriteError(
            f"writing {path} failed: {exc} ({_free_space(path)}; running out of disk space is the usual "
            "cause of this error)"
        ) from exc


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary sibling of ``path``; it replaces ``path`` only if the block succeeds.

    Temporaries of the same file that a killed earlier run left behind are removed first. A write
    that fails for want of disk space raises WriteError naming ``path`` and the space left.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    _remove_leftovers(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp" + path.suffix, dir=path.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        with _naming_a_full_disk(path):
            yield tmp_path
            if tmp_path.exists():
                _as_normal_file(tmp_path, directory=tmp_path.is_dir())
            os.replace(tmp_path, path)
    finally:
        tmp_path.unlink(missing_ok=True)


@contextlib.contextmanager
def atomic_directory(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary sibling folder; it replaces ``path`` (and its old content) on success.

    Temporaries that a killed earlier run of the same output left behind are removed first. A write
    that fails for want of disk space raises WriteError naming ``path`` and the space left.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    _remove_leftovers(path)
    tmp_path = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent))
    try:
        with _naming_a_full_disk(path):
            yield tmp_path
            _as_normal_file(tmp_path, directory=True)
            if path.exists():
                old = path.with_name(f".{path.name}.old")
                os.replace(path, old)
                os.replace(tmp_path, path)
                shutil.rmtree(old, ignore_errors=True)
            else:
                os.replace(tmp_path, path)
    finally:
        shutil.rmtree(tmp_path, ignore_errors=True)


@contextlib.contextmanager
def new_directory(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a private temporary sibling folder; on success it becomes ``path``, which it never replaces.

    ``path`` may be missing or an empty folder when the block starts. If by the end it holds
    anything (another run into the same folder finished first, say), FileExistsError is raised and
    ``path`` is left as it is; the temporary folder goes either way. Unlike :func:`atomic_directory`,
    no temporaries of ``path`` are removed first: they may be other runs' at work (``.<name>.*.partial``
    from a killed run are left to be deleted by hand).
    """
    path = Path(path)
    if path.exists() and (not path.is_dir() or any(path.iterdir())):
        raise FileExistsError(f"{path}: exists and is not an empty folder")
    was_empty_folder = path.exists()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp_path = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".partial", dir=path.parent))
    try:
        yield tmp_path
        _as_normal_file(tmp_path, directory=True)
        try:
            if was_empty_folder:
                with contextlib.suppress(FileNotFoundError):
                    os.rmdir(path)  # only while still empty
            os.mkdir(path)  # claims the name: of two runs only one creates it
            os.rename(tmp_path, path)  # onto the empty folder just claimed
        except OSError as exc:
            raise FileExistsError(f"{path}: appeared or was filled while this run wrote {tmp_path.name}") from exc
    finally:
        shutil.rmtree(tmp_path, ignore_errors=True)


def save_label_png(path: str | os.PathLike, labels: np.ndarray) -> None:
    """Save an (H, W) uint8 label map as a VOC-palette PNG (index values kept intact)."""
    if labels.dtype != np.uint8 or labels.ndim != 2:
        raise ValueError(f"label map for {path} must be a 2-D uint8 array, got {labels.dtype} {labels.shape}")
    height, width = labels.shape
    image = Image.frombytes("P", (width, height), np.ascontiguousarray(labels).tobytes())
    image.putpalette(voc_palette().reshape(-1).tolist())
    with atomic_path(path) as tmp:
        image.save(tmp, format="PNG")


def save_rgb(path: str | os.PathLike, rgb: np.ndarray, *, quality: int = 95) -> None:
    """Save an (H, W, 3) uint8 picture; JPEG or PNG chosen by the suffix of ``path``."""
    fmt = "JPEG" if Path(path).suffix.lower() in (".jpg", ".jpeg") else "PNG"
    options = {"quality": quality, "subsampling": 0} if fmt == "JPEG" else {}
    with atomic_path(path) as tmp:
        Image.fromarray(rgb).save(tmp, format=fmt, **options)


def write_json(path: str | os.PathLike, data: Any) -> None:
    """Write indented, key-sorted JSON atomically."""
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")


def write_text(path: str | os.PathLike, text: str) -> None:
    """Write a text file atomically."""
    with atomic_path(path) as tmp:
        tmp.write_text(text)
