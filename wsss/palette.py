"""The PASCAL VOC colour palette, so label PNGs open as colours instead of near-black."""

from __future__ import annotations

import numpy as np

IGNORE_INDEX = 255


def voc_palette(n: int = 256) -> np.ndarray:
    """Return the VOC devkit colour map as an (n, 3) uint8 array (index 255 is cream white)."""
    palette = np.zeros((n, 3), dtype=np.uint8)
    for index in range(n):
        value, r, g, b = index, 0, 0, 0
        for bit in range(8):
            r |= ((value >> 0) & 1) << (7 - bit)
            g |= ((value >> 1) & 1) << (7 - bit)
            b |= ((value >> 2) & 1) << (7 - bit)
            value >>= 3
        palette[index] = (r, g, b)
    return palette


def colorize(labels: np.ndarray) -> np.ndarray:
    """Map an (H, W) label map to an (H, W, 3) RGB picture with the VOC palette."""
    return voc_palette()[labels.astype(np.uint8)]
