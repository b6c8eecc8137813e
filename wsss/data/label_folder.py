"""Folders of label maps (IR labels, pseudo-labels, predictions): one palette PNG per image id.

Values are class indices (0 background, 1..C the classes, 255 unsure), stored in a palette PNG
so that an image viewer shows VOC colours while a reader gets the indices back unchanged. Each
folder carries a README.txt saying what its files are.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from wsss.data.images import read_label_map
from wsss.errors import DatasetError
from wsss.io import save_label_png, write_text


def label_png_path(folder: str | os.PathLike, image_id: str) -> Path:
    return Path(folder) / f"{image_id}.png"


def write_label_png(folder: str | os.PathLike, image_id: str, labels: np.ndarray) -> None:
    """Write ``<folder>/<id>.png`` atomically (a crash never leaves half a PNG)."""
    save_label_png(label_png_path(folder, image_id), labels.astype(np.uint8))


def read_label_folder_png(
    folder: str | os.PathLike, image_id: str, expected_size: tuple[int, int] | None = None
) -> np.ndarray:
    """Read ``<folder>/<id>.png``; errors name the id and the file (missing, unreadable, wrong size)."""
    path = label_png_path(folder, image_id)
    if not path.is_file():
        raise DatasetError(
            f"{path}: label map for image id {image_id!r} is missing (rerun the stage that writes {Path(folder).name})"
        )
    labels = read_label_map(path)
    if expected_size is not None and tuple(labels.shape) != tuple(expected_size):
        raise DatasetError(
            f"{path}: label map of image id {image_id!r} is {labels.shape[1]}x{labels.shape[0]}, "
            f"the image {expected_size[1]}x{expected_size[0]}"
        )
    return labels


def write_folder_readme(folder: str | os.PathLike, what: str, class_names: list[str], unsure: bool) -> None:
    """README.txt explaining the folder's PNGs: what they are and which value means which class."""
    lines = [
        what.strip(),
        "",
        "One PNG per image id (<id>.png), the size of the image. Each pixel's value is a class index;",
        "the PNG has the PASCAL VOC colour palette, so viewers show colours while programs reading",
        "the values (PIL's Image.open + numpy.asarray, not convert('RGB')) get the indices.",
        "",
        "value  class",
        "    0  background",
    ]
    lines += [f"{k:5d}  {name}" for k, name in enumerate(class_names, start=1)]
    if unsure:
        lines.append("  255  unsure (shown cream white): ignored when training")
    write_text(Path(folder) / "README.txt", "\n".join(lines) + "\n")
