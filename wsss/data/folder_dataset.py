"""A folder of photos made into a dataset in VOC layout: no labels, no masks, no split files.

Every readable image directly in the folder becomes an image of the one split, ``train``; every other
entry is named with the reason it was left out. Images are kept as the bytes they are where possible
(a JPEG within ``max_side``, hard-linked or copied) and written as JPEG otherwise (other formats,
larger photos scaled down), so that every stage reads the same pixels the user's viewer shows.
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from wsss.data.images import read_rgb
from wsss.errors import DatasetError
from wsss.io import save_rgb, write_text

IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp"})
# The least side a CAM network at output stride 16 still gives one cell to.
MIN_SIDE = 16
_UNSAFE = re.compile(r"[^A-Za-z0-9._+-]+")


@dataclass(frozen=True)
class FolderImage:
    """One photo of the folder and the id it has in the prepared dataset."""

    image_id: str
    source: Path


@dataclass(frozen=True)
class Skipped:
    """A folder entry left out, and why."""

    name: str
    reason: str


def image_id_for(stem: str) -> str:
    """The dataset id of a file stem: runs of characters other than letters, digits and ``._+-``
    become ``_`` (split files hold one id a line without spaces), and a leading dot is dropped."""
    return _UNSAFE.sub("_", stem).lstrip(".") or "_"


def scan_folder(folder: str | os.PathLike) -> tuple[list[FolderImage], list[Skipped]]:
    """The image files directly in ``folder`` (by suffix, sorted by name) with their ids, and the entries
    left out: sub-folders, hidden files, other suffixes, and files whose id an earlier file already has."""
    folder = Path(folder)
    if not folder.is_dir():
        raise DatasetError(f"{folder}: folder.images is not a folder")
    images: list[FolderImage] = []
    skipped: list[Skipped] = []
    taken: dict[str, str] = {}
    for path in sorted(folder.iterdir(), key=lambda p: p.name):
        if path.name.startswith("."):
            skipped.append(Skipped(path.name, "hidden file"))
        elif path.is_dir():
            skipped.append(Skipped(path.name, "a folder: only the images directly in folder.images are read"))
        elif path.suffix.lower() not in IMAGE_SUFFIXES:
            skipped.append(Skipped(path.name, f"not an image suffix ({', '.join(sorted(IMAGE_SUFFIXES))})"))
        else:
            image_id = image_id_for(path.stem)
            key = image_id.casefold()  # one file on a case-insensitive file system
            if key in taken:
                skipped.append(Skipped(path.name, f"its id {image_id!r} is that of {taken[key]}: rename one of them"))
            else:
                taken[key] = path.name
                images.append(FolderImage(image_id, path))
    return images, skipped


def _is_plain_jpeg(path: Path) -> bool:
    try:
        with Image.open(path) as image:
            return image.format == "JPEG"
    except OSError:
        return False


def _link_or_copy(source: Path, target: Path) -> None:
    try:
        os.link(source, target)
    except OSError:
        shutil.copyfile(source, target)


def add_image(image: FolderImage, image_dir: Path, max_side: int) -> tuple[tuple[int, int] | None, str]:
    """Put ``image`` into ``image_dir`` as ``<id>.jpg``: its (height, width) as read, and how it was
    written ("linked", "written as JPEG", "scaled from WxH"); or None and why it cannot be used."""
    try:
        rgb = read_rgb(image.source)
    except DatasetError as error:
        return None, str(error).removeprefix(f"{image.source}: ")
    height, width = rgb.shape[:2]
    if min(height, width) < MIN_SIDE:
        return None, f"{width}x{height} is smaller than {MIN_SIDE} px a side"
    target = image_dir / f"{image.image_id}.jpg"
    if max(height, width) > max_side:
        scale = max_side / max(height, width)
        size = (max(1, round(width * scale)), max(1, round(height * scale)))
        rgb = np.asarray(Image.fromarray(rgb).resize(size, Image.Resampling.LANCZOS))
        save_rgb(target, rgb)
        return rgb.shape[:2], f"scaled from {width}x{height}"
    if _is_plain_jpeg(image.source):
        _link_or_copy(image.source, target)
        return (height, width), "linked"
    save_rgb(target, rgb)
    return (height, width), "written as JPEG"


def _cell(text: str) -> str:
    """``text`` as one cell of a tab-separated line (a file name may hold a tab or a line break)."""
    return " ".join(text.split("\t")).replace("\n", " ").replace("\r", " ")


def write_folder_tables(
    root: Path,
    kept: list[tuple[FolderImage, tuple[int, int], str]],
    probabilities: np.ndarray,
    present: np.ndarray,
    class_names: tuple[str, ...],
    skipped: list[Skipped],
) -> None:
    """``image_labels.tsv`` (per photo: id, file, size, how it was added, its classes and every class's
    probability) and ``skipped.tsv`` (per file left out: name and reason), for the user to open."""
    header = ["id", "file", "width", "height", "added", "classes", *(f"p_{name}" for name in class_names)]
    lines = ["\t".join(header)]
    for (image, (height, width), how), row, on in zip(kept, probabilities, present):
        classes = ",".join(name for name, flag in zip(class_names, on) if flag) or "-"
        values = [image.image_id, _cell(image.source.name), str(width), str(height), how, classes]
        lines.append("\t".join([*values, *(f"{p:.4f}" for p in row)]))
    write_text(root / "image_labels.tsv", "\n".join(lines) + "\n")
    write_text(
        root / "skipped.tsv",
        "".join(["file\treason\n", *(f"{_cell(entry.name)}\t{_cell(entry.reason)}\n" for entry in skipped)]),
    )


def read_label_table(path: str | os.PathLike, class_names: Sequence[str]) -> tuple[list[str], np.ndarray]:
    """The photo ids and (N, C) class probabilities of an ``image_labels.tsv`` (:func:`write_folder_tables`),
    the columns in ``class_names``' order; a missing class column is an error naming the file."""
    lines = Path(path).read_text().splitlines()
    header = lines[0].split("\t") if lines else []
    missing = [name for name in class_names if f"p_{name}" not in header]
    if missing:
        raise DatasetError(f"{path}: no probability column for {', '.join(missing)} (columns: {header})")
    columns = [header.index(f"p_{name}") for name in class_names]
    rows = [line.split("\t") for line in lines[1:] if line]
    probabilities = np.array([[float(row[c]) for c in columns] for row in rows], dtype=np.float64)
    return [row[0] for row in rows], probabilities.reshape(len(rows), len(class_names))
