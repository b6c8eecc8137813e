"""The reference's pseudo-label masks, checked and written as this project's label folder.

IRN's and CLIMS's ``step/make_sem_seg_labels.py`` (and the camera-ready ``make_pseudo_labels.py``)
write ``<image id>.png`` with imageio: a greyscale uint8 PNG of label values, 0 the background and
c + 1 the class c, taken from the image's own classes. 255 does not occur there (every pixel gets a
label) but is accepted as this project's "unsure", which the segmenter ignores.
"""

from __future__ import annotations

import os

import numpy as np

from wsss.data.images import image_size, read_label_map
from wsss.data.label_folder import write_label_png
from wsss.data.released_folders import ReleasedImage
from wsss.errors import DatasetError
from wsss.palette import IGNORE_INDEX


def check_reference_mask(
    path: str | os.PathLike, labels: np.ndarray, classes: tuple[int, ...], size: tuple[int, int], num_classes: int
) -> None:
    """The mask fits its image: its ``size`` (H, W), label values of the dataset (0..``num_classes``,
    255), and no object class the image's labels lack (``classes``, 0-based)."""
    if labels.shape != tuple(size):
        raise DatasetError(f"{path}: mask is {labels.shape[1]}x{labels.shape[0]}, its image {size[1]}x{size[0]}")
    values = np.unique(labels)
    foreign = [int(v) for v in values if v > num_classes and v != IGNORE_INDEX]
    if foreign:
        raise DatasetError(
            f"{path}: values {foreign} are no label values of the {num_classes} classes "
            f"(0 background, 1..{num_classes}, {IGNORE_INDEX} unsure)"
        )
    absent = [int(v) - 1 for v in values if 0 < v <= num_classes and int(v) - 1 not in classes]
    if absent:
        raise DatasetError(f"{path}: classes {absent} (0-based) are not among the image's labels {list(classes)}")


def convert_reference_mask(image: ReleasedImage, output: str, num_classes: int) -> np.ndarray:
    """Read, check and write one image's mask as ``<output>/<id>.png``; return its label histogram."""
    labels = read_label_map(image.source)
    check_reference_mask(image.source, labels, image.classes, image_size(image.image_path), num_classes)
    write_label_png(output, image.image_id, labels)
    return np.bincount(labels.ravel(), minlength=256)
