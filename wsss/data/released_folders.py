"""Folders of per-image files the reference released (CAMs, pseudo-labels), matched to the dataset's images."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from wsss.data.manifest import DatasetManifest
from wsss.data.voc_dataset import images_with_classes
from wsss.errors import DatasetError


@dataclass(frozen=True)
class ReleasedImage:
    """One image of a released folder: its id, its image file, its classes (0-based) and its released file."""

    image_id: str
    image_path: str
    classes: tuple[int, ...]
    source: str


def released_images(
    root: str, description: DatasetManifest, splits: list[str], folder: str | os.PathLike, suffix: str
) -> list[ReleasedImage]:
    """Every image of ``splits`` (each id once) with its file ``<folder>/<id><suffix>``.

    All files must be there before any is read: the error names the folder, how many are missing
    and the first few ids.
    """
    images = {
        image_id: ReleasedImage(image_id, image_path, classes, str(Path(folder) / f"{image_id}{suffix}"))
        for image_id, (image_path, classes) in images_with_classes(root, description, splits).items()
    }
    missing = [image_id for image_id, image in images.items() if not Path(image.source).is_file()]
    if missing:
        shown = ", ".join(missing[:5]) + (", ..." if len(missing) > 5 else "")
        raise DatasetError(
            f"{folder}: {len(missing)} of the {len(images)} images of {' + '.join(dict.fromkeys(splits))} "
            f"have no file <id>{suffix} here ({shown})"
        )
    return list(images.values())
