"""Pictures for people: overlays and contact sheets of images with their label maps."""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw

from wsss.palette import colorize


def overlay(rgb: np.ndarray, labels: np.ndarray, alpha: float = 0.55) -> np.ndarray:
    """Blend the palette colours of ``labels`` over ``rgb`` (background left untouched)."""
    colors = colorize(labels).astype(np.float32)
    mixed = rgb.astype(np.float32)
    painted = labels != 0
    mixed[painted] = (1 - alpha) * mixed[painted] + alpha * colors[painted]
    return mixed.round().astype(np.uint8)


def contact_sheet(
    groups: list[list[np.ndarray]],
    captions: list[str],
    *,
    groups_per_row: int = 4,
    pad: int = 4,
    caption_height: int = 12,
) -> np.ndarray:
    """Lay out groups of equally sized RGB tiles (e.g. image | overlay | mask) in a grid.

    Each group's tiles sit side by side under its caption; ``groups_per_row`` groups per row.
    """
    tile_h, tile_w = groups[0][0].shape[:2]
    tiles_per_group = max(len(g) for g in groups)
    group_w = tiles_per_group * tile_w + (tiles_per_group - 1) * 2
    group_h = caption_height + tile_h
    columns = min(groups_per_row, len(groups))
    rows = -(-len(groups) // columns)
    sheet = Image.new("RGB", (pad + columns * (group_w + 3 * pad), pad + rows * (group_h + pad)), (255, 255, 255))
    draw = ImageDraw.Draw(sheet)
    for index, (tiles, caption) in enumerate(zip(groups, captions)):
        left = pad + (index % columns) * (group_w + 3 * pad)
        top = pad + (index // columns) * (group_h + pad)
        draw.text((left, top), caption, fill=(0, 0, 0))
        for t, tile in enumerate(tiles):
            sheet.paste(Image.fromarray(tile), (left + t * (tile_w + 2), top + caption_height))
    return np.asarray(sheet)


def heatmap(rgb: np.ndarray, values: np.ndarray, alpha: float = 0.6) -> np.ndarray:
    """Blend a dark-red-to-yellow rendering of ``values`` in [0, 1] (e.g. a CAM) over a dimmed ``rgb``."""
    v = np.clip(values.astype(np.float32), 0, 1)[..., None]
    colors = np.concatenate([np.clip(2 * v, 0, 1), np.clip(2 * v - 1, 0, 1), np.zeros_like(v)], axis=-1) * 255
    mixed = (1 - alpha) * rgb.astype(np.float32) * 0.6 + alpha * colors
    return mixed.round().clip(0, 255).astype(np.uint8)
