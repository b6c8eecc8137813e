"""The vector primitives a scene is made of, and the colour and geometry helpers the painters share.

Painters describe what they draw as :class:`Shape` lists grouped into :class:`Layer` s rather
than drawing pixels, so that one scene can be rasterised several ways (at a supersampled scale,
as colours, as instance ids, as background regions).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

Color = tuple[int, int, int]


@dataclass
class Shape:
    """One filled primitive: 'polygon' (points), 'ellipse' or 'rectangle' (box), 'line' (points)."""

    kind: str
    coords: list[float]
    fill: Color
    width: int = 1


@dataclass
class Layer:
    """Shapes drawn together: a background region (label 0) or one object instance."""

    name: str
    label: int
    shapes: list[Shape] = field(default_factory=list)


def jitter(rng: np.random.Generator, color: Color, amount: int = 18) -> Color:
    """``color`` with each channel moved by up to ``amount`` (clipped to 0..255)."""
    values = np.clip(np.array(color) + rng.integers(-amount, amount + 1, size=3), 0, 255)
    return tuple(int(v) for v in values)


def pick(rng: np.random.Generator, options: list[Color], amount: int = 18) -> Color:
    """One of ``options``, jittered."""
    return jitter(rng, options[int(rng.integers(len(options)))], amount)


def ellipse(cx: float, cy: float, rx: float, ry: float) -> list[float]:
    """The bounding box of the ellipse with centre (cx, cy) and radii (rx, ry)."""
    return [cx - rx, cy - ry, cx + rx, cy + ry]


def mirror(points: list[float], cx: float, flip: bool) -> list[float]:
    """Mirror x coordinates of a flat point list around ``cx`` when ``flip``."""
    if not flip:
        return points
    return [2 * cx - v if i % 2 == 0 else v for i, v in enumerate(points)]


def mirror_box(box: list[float], cx: float, flip: bool) -> list[float]:
    """Mirror a box (x0, y0, x1, y1) around ``cx`` when ``flip``, keeping x0 <= x1."""
    if not flip:
        return box
    x0, y0, x1, y1 = box
    return [2 * cx - x1, y0, 2 * cx - x0, y1]
