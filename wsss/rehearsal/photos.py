"""A folder of photos as a folder-mode user has it: photos of several sizes and formats at real scale, one
larger than ``folder.max_side``, and files that are not usable photos, with no labels, masks or splits."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from PIL import Image

from wsss.io import save_rgb
from wsss.rehearsal.scenes import paint_scene

# (file name, width, height): a landscape and a portrait JPEG at VOC's sizes, and a PNG over the
# default folder.max_side of 1000 (written as a JPEG and scaled down by prepare_folder).
PHOTOS = (("harbour.jpg", 500, 375), ("street view.jpg", 333, 500), ("scan 1.png", 1280, 960))
# What prepare_folder leaves out, each named in skipped.tsv.
NOT_PHOTOS = {"notes.txt": b"shot list\n", "cut short.jpg": b"\xff\xd8\xff\xe0 cut short"}


def write_photo_folder(output: str | os.PathLike, num_classes: int, seed: int = 0) -> list[str]:
    """Write ``output`` (:data:`PHOTOS`, three objects of the ``num_classes`` classes each, and
    :data:`NOT_PHOTOS`); return the photos' file names."""
    output = Path(output)
    output.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    for name, width, height in PHOTOS:
        labels = [int(label) for label in rng.integers(1, num_classes + 1, size=3)]
        rgb = paint_scene(rng, height, width, labels).rgb
        if name.endswith(".jpg"):
            save_rgb(output / name, rgb, quality=90)
        else:
            Image.fromarray(rgb).save(output / name)
    for name, content in NOT_PHOTOS.items():
        (output / name).write_bytes(content)
    return [name for name, _, _ in PHOTOS]
