"""Folders of per-image files the reference released (CAMs, pseudo-labels), matched to the dataset's images."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from wsss.data.manifest import DatasetManifest
from wsss.errors import DatasetError
from wsss.refine.cam_to_labels import cam_label_jobs


@dataclass(frozen=True)
class ReleasedImage:
    """One image of a released folder: its image, classes (0-based), released file and output folder."""

    image_id: str
    image_path: str
    classes: tuple[int, ...]
    source: str
    output: str


def released_images(
    root: str, description: DatasetManifest, splits: list[str], folder: str | os.PathLike, suffix: str, output: str
) -> list[ReleasedImage]:
    """Every image of ``splits`` (each id once) with its file ``<folder>/<id><suffix>``.

    All files must be there before any is read: the error names the folder, how many are missing
    and the first few ids.
    """
    images = [
        ReleasedImage(job.image_id, job.image_path, job.keys, str(Path(folder) / f"{job.image_id}{suffix}"), output)
        for job in cam_label_jobs(root, description, splits, str(folder), output)
    ]
    missing = [image.image_id for image in images if not Path(image.source).is_file()]
    if missing:
        shown = ", ".join(missing[:5]) + (", ..." if len(missing) > 5 else "")
        raise DatasetError(
            f"{folder}: {len(missing)} of the {len(images)} images of {' + '.join(dict.fromkeys(splits))} "
            f"have no file <id>{suffix} here ({shown})"
        )
    return images
