"""Reading images and label maps with clear errors and uniform RGB / uint8 outputs.

Images are read as they are displayed: a JPEG's EXIF orientation is applied (as image viewers,
OpenCV and mmcv do), in every stage, so CAMs, pseudo-labels and the segmenter's training crops
all see the same pixels. Label maps are PNGs read as stored; they must match the turned image.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import numpy as np
from PIL import ExifTags, Image, ImageOps, UnidentifiedImageError

from wsss.errors import DatasetError

Item = TypeVar("Item")

# EXIF orientations that turn the picture a quarter (transpose, 90 or 270 degrees): height and width swap.
_QUARTER_TURNS = frozenset({5, 6, 7, 8})


def _open(path: Path, what: str) -> Image.Image:
    """Open and fully decode ``path`` so that truncated files fail here, naming the file."""
    try:
        image = Image.open(path)
        image.load()
    except FileNotFoundError:
        raise DatasetError(f"{path}: {what} file is missing") from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise DatasetError(f"{path}: cannot read {what} ({exc})") from None
    return image


def _to_uint8(values: np.ndarray) -> np.ndarray:
    """Scale integer or float pixel values of any depth into 0..255."""
    if values.dtype == np.uint8:
        return values
    if np.issubdtype(values.dtype, np.floating):
        scale = 255.0 if values.max(initial=0.0) <= 1.0 else 1.0
        return np.clip(values * scale, 0, 255).round().astype(np.uint8)
    peak = int(values.max(initial=0))
    if peak > 255:  # 16-bit (or wider) samples
        return np.clip(values.astype(np.float64) / 257.0, 0, 255).round().astype(np.uint8)
    return values.astype(np.uint8)


def _orientation(image: Image.Image, path: Path) -> int:
    """The EXIF orientation tag (1 = as stored), read from the header."""
    try:
        return int(image.getexif().get(ExifTags.Base.Orientation, 1))
    except (OSError, SyntaxError, ValueError, TypeError) as exc:
        raise DatasetError(f"{path}: cannot read the image's EXIF data ({exc})") from None


def read_rgb(path: str | os.PathLike) -> np.ndarray:
    """Read any image as an (H, W, 3) uint8 RGB array, turned by its EXIF orientation.

    Grey, RGBA, palette and 16-bit images are converted.
    """
    path = Path(path)
    image = _open(path, "image")
    if _orientation(image, path) != 1:
        image = ImageOps.exif_transpose(image)
    if image.mode in ("I", "I;16", "I;16B", "I;16L", "F"):
        grey = _to_uint8(np.asarray(image))
        return np.repeat(grey[:, :, None], 3, axis=2)
    return np.array(image.convert("RGB"))


def image_size(path: str | os.PathLike) -> tuple[int, int]:
    """Return (height, width) of the image as :func:`read_rgb` turns it, from the header alone."""
    path = Path(path)
    try:
        with Image.open(path) as image:
            width, height = image.size
            turned = _orientation(image, path) in _QUARTER_TURNS
    except FileNotFoundError:
        raise DatasetError(f"{path}: image file is missing") from None
    except (UnidentifiedImageError, OSError) as exc:
        raise DatasetError(f"{path}: cannot read image ({exc})") from None
    return (width, height) if turned else (height, width)


def batches_by_image_size(
    items: list[Item], image_path: Callable[[Item], str | os.PathLike], batch_size: int
) -> list[list[Item]]:
    """Batches of at most ``batch_size`` items whose images share one size (read from the headers, not decoded)."""
    by_size: dict[tuple[int, int], list[Item]] = {}
    for item in items:
        by_size.setdefault(image_size(image_path(item)), []).append(item)
    return [group[i : i + batch_size] for group in by_size.values() for i in range(0, len(group), batch_size)]


def read_label_map(path: str | os.PathLike) -> np.ndarray:
    """Read a single-channel label PNG (palette or grayscale, 8 or 16 bit) as (H, W) uint8."""
    path = Path(path)
    image = _open(path, "label map")
    if image.mode in ("P", "L"):
        return np.asarray(image).copy()
    if image.mode in ("I", "I;16", "I;16B", "I;16L"):
        values = np.asarray(image)
        if values.min(initial=0) < 0 or values.max(initial=0) > 255:
            raise DatasetError(f"{path}: label values must lie in 0..255, found {values.min()}..{values.max()}")
        return values.astype(np.uint8)
    raise DatasetError(f"{path}: label map must be a single-channel palette or grayscale PNG, got mode {image.mode}")


def pil_rescale(pixels: np.ndarray, scale: float, resample: int = Image.BICUBIC) -> np.ndarray:
    """Resize a uint8 (H, W[, C]) array to (round(H * s), round(W * s)) with PIL, as the reference rescales.

    PIL's bicubic filter widens with the factor when shrinking (antialiasing) and rounds to uint8,
    which an interpolation of float tensors does not reproduce.
    """
    height, width = pixels.shape[:2]
    size = (max(1, round(height * scale)), max(1, round(width * scale)))
    if size == (height, width):
        return pixels
    return np.array(Image.fromarray(pixels).resize(size[::-1], resample))
