"""Segmenting photos larger than the images a segmenter was trained on: downscaled, or in tiles.

A 4000x3000 photo through the multi-scale, flipped test at full size takes minutes and over 10 GB
on a CPU; VOC and COCO images have sides of 500 and 640 pixels. Above ``max_side`` pixels an image
is either downscaled (objects appear at about the size the segmenter learnt; the mask is scaled
back with nearest-neighbour) or cut into tiles of at most ``max_side`` pixels, each read with a
margin of context around the part of it that is kept (full-resolution masks; objects are seen
larger than in training).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from PIL import Image

LARGE_IMAGE_MODES = ("downscale", "tiles")


def axis_windows(length: int, max_side: int) -> list[tuple[int, int, int, int]]:
    """Tiles along one axis: (read_start, read_stop, keep_start, keep_stop), the kept parts covering
    ``0..length`` once and each read part at most ``max_side`` long (a margin of ``max_side // 8``
    of context on each side of the kept part, where the image has it)."""
    if length <= max_side:
        return [(0, length, 0, length)]
    margin = max_side // 8
    core = max_side - 2 * margin
    return [
        (max(0, start - margin), min(length, start + core + margin), start, min(length, start + core))
        for start in range(0, length, core)
    ]


def resized(rgb: np.ndarray, height: int, width: int, resample: int) -> np.ndarray:
    return np.array(Image.fromarray(rgb).resize((width, height), resample))


def label_large_image(
    predict: Callable[[np.ndarray], np.ndarray], rgb: np.ndarray, max_side: int, mode: str
) -> tuple[np.ndarray, str]:
    """(H, W) labels of ``rgb`` by ``predict`` (an (h, w, 3) image to its (h, w) labels), and how it
    was done ("" when the image fits in ``max_side``)."""
    if mode not in LARGE_IMAGE_MODES:
        raise ValueError(f"large images must be handled by one of {LARGE_IMAGE_MODES}, got {mode!r}")
    height, width = rgb.shape[:2]
    if max(height, width) <= max_side:
        return predict(rgb), ""
    if mode == "downscale":
        factor = max_side / max(height, width)
        small_height, small_width = max(1, round(height * factor)), max(1, round(width * factor))
        labels = predict(resized(rgb, small_height, small_width, Image.BILINEAR))
        return resized(labels, height, width, Image.NEAREST), f"downscaled to {small_width}x{small_height}"
    labels = np.empty((height, width), dtype=np.uint8)
    rows, columns = axis_windows(height, max_side), axis_windows(width, max_side)
    for top, bottom, keep_top, keep_bottom in rows:
        for left, right, keep_left, keep_right in columns:
            tile = predict(rgb[top:bottom, left:right])
            labels[keep_top:keep_bottom, keep_left:keep_right] = tile[
                keep_top - top : keep_bottom - top, keep_left - left : keep_right - left
            ]
    return labels, f"{len(rows) * len(columns)} tiles of at most {max_side} px"
