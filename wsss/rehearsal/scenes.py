"""Random scenes of a few objects at a given image size: a picture, its class map and its instances."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw
from scipy import ndimage


@dataclass
class SceneObject:
    """One drawn instance: its class index (1-based), visible mask, drawn polygon, whether it touches the border."""

    label: int
    mask: np.ndarray
    outline: list[tuple[float, float]]
    truncated: bool


@dataclass
class Scene:
    rgb: np.ndarray  # (H, W, 3) uint8
    labels: np.ndarray  # (H, W) uint8, 0 background, later objects over earlier ones
    objects: list[SceneObject]


def class_colour(label: int) -> tuple[int, int, int]:
    """A fixed colour per class, so that a network could in principle learn something."""
    rng = np.random.default_rng(1000 + label)
    return tuple(int(v) for v in rng.integers(40, 256, size=3))


def _outline(rng: np.random.Generator, cx: float, cy: float, rx: float, ry: float) -> list[tuple[float, float]]:
    """A jittered ellipse with 10-16 corners, so masks are neither boxes nor perfect ellipses."""
    corners = int(rng.integers(10, 17))
    angles = np.sort(rng.uniform(0, 2 * np.pi, corners))
    radius = rng.uniform(0.7, 1.0, corners)
    return [(cx + rx * r * np.cos(a), cy + ry * r * np.sin(a)) for a, r in zip(angles, radius)]


def _background(rng: np.random.Generator, height: int, width: int) -> np.ndarray:
    """A smooth two-colour gradient with mild noise, cheap to draw at any size."""
    top, bottom = rng.integers(0, 256, size=(2, 3))
    ramp = np.linspace(0.0, 1.0, height)[:, None, None]
    rgb = top[None, None, :] * (1 - ramp) + bottom[None, None, :] * ramp
    rgb = np.broadcast_to(rgb, (height, width, 3)) + rng.normal(0, 8, size=(height, width, 3))
    return np.clip(rgb, 0, 255).astype(np.uint8)


def paint_scene(rng: np.random.Generator, height: int, width: int, labels: list[int]) -> Scene:
    """Draw one object per entry of ``labels`` (1-based class indices) over a random background.

    Objects cover 5-35% of the shorter side in radius; about one in four is pushed over the border
    (truncated). Every object keeps at least some visible pixels.
    """
    picture = Image.fromarray(_background(rng, height, width))
    draw = ImageDraw.Draw(picture)
    class_map = np.zeros((height, width), dtype=np.uint8)
    objects: list[SceneObject] = []
    short = min(height, width)
    for label in labels:
        rx, ry = rng.uniform(0.12, 0.35, size=2) * short
        over_border = rng.random() < 0.25
        margin = 0.0 if over_border else 1.0
        cx = rng.uniform(margin * rx, width - margin * rx)
        cy = rng.uniform(margin * ry, height - margin * ry)
        outline = _outline(rng, cx, cy, rx, ry)
        canvas = Image.new("1", (width, height), 0)
        ImageDraw.Draw(canvas).polygon(outline, fill=1)
        mask = np.array(canvas, dtype=bool)
        if not mask.any():
            continue
        colour = tuple(int(np.clip(c + rng.integers(-20, 21), 0, 255)) for c in class_colour(label))
        draw.polygon(outline, fill=colour)
        class_map[mask] = label
        for earlier in objects:
            earlier.mask &= ~mask
        border = mask[0].any() or mask[-1].any() or mask[:, 0].any() or mask[:, -1].any()
        objects.append(SceneObject(label, mask, outline, bool(border)))
    objects = [o for o in objects if o.mask.any()]
    return Scene(np.asarray(picture).copy(), class_map, objects)


def with_void_boundaries(labels: np.ndarray, width: int = 5) -> np.ndarray:
    """VOC's ground-truth style: a band of 255 ("void") along every boundary between regions."""
    footprint = np.ones((width, width), dtype=bool)
    edge = ndimage.maximum_filter(labels, footprint=footprint) != ndimage.minimum_filter(labels, footprint=footprint)
    marked = labels.copy()
    marked[edge] = 255
    return marked
