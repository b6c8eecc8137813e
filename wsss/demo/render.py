"""Rendering a sampled scene into the image, its label map, instance map and background regions.

Shapes are drawn at ``supersample`` times the image size: colours are box-filtered down (soft
edges), label, instance and region maps take each output pixel's centre (hard edges). Label
maps follow VOC: classes too small to see and a border between labels are marked ignore.
"""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw

from wsss.demo.scenes import BACKGROUNDS, Scene, WorldSettings
from wsss.demo.shapes import Color, Shape
from wsss.palette import IGNORE_INDEX


def _draw(draw: ImageDraw.ImageDraw, shape: Shape, scale: int, fill: Color | int) -> None:
    """Draw ``shape`` scaled by ``scale`` in ``fill`` (a colour, an instance id or a region value)."""
    coords = [v * scale for v in shape.coords]
    if shape.kind == "polygon":
        draw.polygon(coords, fill=fill)
    elif shape.kind == "ellipse":
        draw.ellipse(coords, fill=fill)
    elif shape.kind == "rectangle":
        draw.rectangle(coords, fill=fill)
    elif shape.kind == "line":
        draw.line(coords, fill=fill, width=max(1, shape.width * scale))
    else:
        raise ValueError(f"unknown shape kind {shape.kind!r}")


def render_scene(
    scene: Scene,
    settings: WorldSettings,
    *,
    draw_backgrounds: bool = True,
    draw_objects: bool = True,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Render (rgb uint8 HxWx3, label map uint8 HxW, instance map int16 HxW).

    Backgrounds or objects can be left out, which later stages use for object-only and
    background-only views of the same scene.
    """
    size, scale = settings.image_size, settings.supersample
    canvas = Image.new("RGB", (size * scale, size * scale), scene.base)
    draw = ImageDraw.Draw(canvas)
    # Low-contrast horizontal stripes so that the plain base is not perfectly flat.
    for y in range(0, size, 8):
        draw.rectangle([0, y * scale, size * scale, (y + 3) * scale], fill=scene.base_shade)
    if draw_backgrounds:
        for layer in scene.backgrounds:
            for shape in layer.shapes:
                _draw(draw, shape, scale, shape.fill)
    instances = Image.new("I", canvas.size, 0)
    instance_draw = ImageDraw.Draw(instances)
    if draw_objects:
        for index, layer in enumerate(scene.objects, start=1):
            for shape in layer.shapes:
                _draw(draw, shape, scale, shape.fill)
                _draw(instance_draw, shape, scale, index)
    rgb = np.asarray(canvas.resize((size, size), Image.Resampling.BOX), dtype=np.float32)
    noise = np.random.default_rng(scene.noise_seed).normal(0.0, settings.noise_std, rgb.shape)
    rgb = np.clip(rgb * scene.brightness + noise, 0, 255).round().astype(np.uint8)
    instance_map = _pixel_centres(instances, scale).astype(np.int16)
    class_of_instance = np.array([0] + [layer.label for layer in scene.objects], dtype=np.uint8)
    labels = class_of_instance[instance_map]
    labels = _drop_tiny_classes(labels, settings.min_object_pixels)
    if settings.boundary_ignore > 0:
        labels = _ignore_boundaries(labels, settings.boundary_ignore)
    return rgb, labels, instance_map


def background_regions(scene: Scene, settings: WorldSettings) -> np.ndarray:
    """(H, W) uint8 map of which background is drawn where: 0 plain, i for BACKGROUNDS[i - 1].

    Objects are not drawn; combined with the label map it tells which background pixels are
    an object's co-occurring background (for measuring CAM leakage onto it).
    """
    size, scale = settings.image_size, settings.supersample
    regions = Image.new("L", (size * scale, size * scale), 0)
    draw = ImageDraw.Draw(regions)
    for layer in scene.backgrounds:
        for shape in layer.shapes:
            _draw(draw, shape, scale, BACKGROUNDS.index(layer.name) + 1)
    return _pixel_centres(regions, scale).copy()


def _pixel_centres(image: Image.Image, scale: int) -> np.ndarray:
    """The supersampled ``image`` read at each output pixel's centre (hard edges; a read-only view)."""
    return np.asarray(image)[scale // 2 :: scale, scale // 2 :: scale]


def _drop_tiny_classes(labels: np.ndarray, min_pixels: int) -> np.ndarray:
    """Mark classes with fewer than ``min_pixels`` visible pixels as ignore: too small to label."""
    labels = labels.copy()
    values, counts = np.unique(labels, return_counts=True)
    for value, count in zip(values, counts):
        if value != 0 and count < min_pixels:
            labels[labels == value] = IGNORE_INDEX
    return labels


def _ignore_boundaries(labels: np.ndarray, width: int) -> np.ndarray:
    """Set pixels within ``width`` of a boundary between two labels to ignore, as VOC does."""
    edge = np.zeros(labels.shape, dtype=bool)
    for axis in (0, 1):
        diff = np.diff(labels.astype(np.int16), axis=axis) != 0
        if axis == 0:
            edge[:-1] |= diff
            edge[1:] |= diff
        else:
            edge[:, :-1] |= diff
            edge[:, 1:] |= diff
    grown = edge.copy()
    for _ in range(width - 1):
        padded = np.pad(grown, 1)
        grown = padded[1:-1, 1:-1] | padded[:-2, 1:-1] | padded[2:, 1:-1] | padded[1:-1, :-2] | padded[1:-1, 2:]
    out = labels.copy()
    out[grown] = IGNORE_INDEX
    return out
