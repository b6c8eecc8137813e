"""File I/O that never leaves half-written artifacts: write to a temporary name, then rename."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from wsss.data.palette import voc_palette


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary sibling of ``path``; it replaces ``path`` only if the block succeeds."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp" + path.suffix, dir=path.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        os.replace(tmp_path, path)
    finally:
        tmp_path.unlink(missing_ok=True)


@contextlib.contextmanager
def atomic_directory(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary sibling folder; it replaces ``path`` (and its old content) on success."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp_path = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent))
    try:
        yield tmp_path
        if path.exists():
            old = path.with_name(f".{path.name}.old")
            shutil.rmtree(old, ignore_errors=True)
            os.replace(path, old)
            os.replace(tmp_path, path)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp_path, path)
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
