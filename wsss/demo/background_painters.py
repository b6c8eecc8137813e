"""Painters of the six backgrounds (label 0), each an object's usual co-occurring surrounding.

The backgrounds reuse object colours (white clouds and aeroplanes, grey roads and cars, brown
tree trunks and birds) so that a classifier is tempted to fire on them instead of the object.
Each painter returns its layer and the vertical band (y0, y1) in which its object is placed.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from wsss.demo.shapes import Layer, Shape, ellipse, jitter, pick

Band = tuple[float, float]
BackgroundPainter = Callable[[np.random.Generator, int], tuple[Layer, Band]]


def _sky(rng: np.random.Generator, size: int) -> tuple[Layer, Band]:
    height = size * rng.uniform(0.35, 0.65)
    layer = Layer(
        "sky",
        0,
        [Shape("rectangle", [0, 0, size, height], pick(rng, [(110, 170, 235), (140, 190, 240), (90, 150, 220)]))],
    )
    for _ in range(int(rng.integers(0, 4))):  # clouds share the aeroplane's whites and greys
        cx, cy = rng.uniform(0, size), rng.uniform(0.1, 0.9) * height
        cloud = pick(rng, [(245, 245, 245), (215, 220, 225)], 8)
        for _ in range(3):
            layer.shapes.append(
                Shape(
                    "ellipse",
                    ellipse(
                        cx + rng.uniform(-8, 8) * size / 128,
                        cy + rng.uniform(-3, 3),
                        size * rng.uniform(0.05, 0.1),
                        size * rng.uniform(0.03, 0.05),
                    ),
                    cloud,
                )
            )
    return layer, (0.0, height)


def _band(rng: np.random.Generator, size: int, low: float, high: float) -> Band:
    height = size * rng.uniform(low, high)
    top = rng.uniform(0.3 * size, size - height)
    return top, top + height


def _water(rng: np.random.Generator, size: int) -> tuple[Layer, Band]:
    y0, y1 = _band(rng, size, 0.3, 0.5)
    y1 = max(y1, size * rng.uniform(0.85, 1.0))
    color = pick(rng, [(40, 90, 160), (30, 110, 140), (60, 100, 170)])
    layer = Layer("water", 0, [Shape("rectangle", [0, y0, size, y1], color)])
    for _ in range(int(rng.integers(4, 9))):  # wave crests share the boat's white hulls
        y, x = rng.uniform(y0 + 2, y1), rng.uniform(-10, size)
        crest = pick(rng, [(200, 220, 235), (120, 160, 200)], 10)
        layer.shapes.append(Shape("line", [x, y, x + size * rng.uniform(0.1, 0.3), y], crest, width=2))
    return layer, (y0, y1)


def _road(rng: np.random.Generator, size: int) -> tuple[Layer, Band]:
    y0, y1 = _band(rng, size, 0.22, 0.35)
    color = pick(rng, [(85, 85, 90), (110, 110, 110), (70, 72, 78)], 10)
    layer = Layer("road", 0, [Shape("rectangle", [0, y0, size, y1], color)])
    mid = (y0 + y1) / 2
    dash = pick(rng, [(235, 235, 235), (230, 200, 60)], 10)
    step = size / 6
    for x in np.arange(rng.uniform(0, step), size, step):
        layer.shapes.append(Shape("rectangle", [x, mid - 1.5, x + step / 2, mid + 1.5], dash))
    return layer, (y0, y1)


def _railroad(rng: np.random.Generator, size: int) -> tuple[Layer, Band]:
    y0, y1 = _band(rng, size, 0.16, 0.25)
    gravel = pick(rng, [(120, 110, 100), (140, 125, 105)], 12)
    layer = Layer("railroad", 0, [Shape("rectangle", [0, y0, size, y1], gravel)])
    tie = pick(rng, [(95, 60, 35), (110, 75, 45)], 10)
    step = size / 14
    for x in np.arange(rng.uniform(0, step), size, step):
        layer.shapes.append(Shape("rectangle", [x, y0 + 2, x + step * 0.4, y1 - 2], tie))
    rail = pick(rng, [(170, 170, 175), (140, 140, 150)], 8)
    for frac in (0.3, 0.7):
        y = y0 + frac * (y1 - y0)
        layer.shapes.append(Shape("line", [0, y, size, y], rail, width=2))
    return layer, (y0, y1)


def _grass(rng: np.random.Generator, size: int) -> tuple[Layer, Band]:
    y0 = size * rng.uniform(0.4, 0.7)
    y1 = size
    green = pick(rng, [(70, 150, 60), (90, 160, 70), (60, 130, 50)])
    layer = Layer("grass", 0, [Shape("rectangle", [0, y0, size, y1], green)])
    for _ in range(int(rng.integers(0, 3))):  # dirt patches share the cow's browns
        cx, cy = rng.uniform(0, size), rng.uniform(y0, y1)
        layer.shapes.append(
            Shape(
                "ellipse",
                ellipse(cx, cy, size * rng.uniform(0.05, 0.12), size * rng.uniform(0.02, 0.05)),
                pick(rng, [(140, 100, 60), (120, 85, 50)]),
            )
        )
    for _ in range(int(rng.integers(10, 25))):
        x, y = rng.uniform(0, size), rng.uniform(y0, y1)
        layer.shapes.append(
            Shape("line", [x, y, x + rng.uniform(-2, 2), y - size * 0.04], jitter(rng, (40, 100, 35), 15))
        )
    return layer, (y0, y1)


def _tree(rng: np.random.Generator, size: int) -> tuple[Layer, Band]:
    layer = Layer("tree", 0)
    canopy_boxes = []
    for _ in range(int(rng.integers(1, 3))):
        cx = rng.uniform(0.1, 0.9) * size
        top = rng.uniform(0.0, 0.35) * size
        radius = size * rng.uniform(0.14, 0.24)
        trunk_bottom = min(size, top + radius * 2 + size * rng.uniform(0.15, 0.35))
        trunk = pick(rng, [(100, 70, 40), (85, 60, 35)])  # shared with the bird's browns
        layer.shapes.append(
            Shape("rectangle", [cx - radius * 0.18, top + radius, cx + radius * 0.18, trunk_bottom], trunk)
        )
        leaf = pick(rng, [(35, 100, 40), (50, 115, 45), (30, 85, 50)])
        for _ in range(4):
            ox, oy = rng.uniform(-0.5, 0.5) * radius, rng.uniform(-0.4, 0.4) * radius
            layer.shapes.append(
                Shape("ellipse", ellipse(cx + ox, top + radius + oy, radius * 0.75, radius * 0.65), leaf)
            )
        canopy_boxes.append((top, top + 2 * radius))
    y0 = min(b[0] for b in canopy_boxes)
    y1 = max(b[1] for b in canopy_boxes)
    return layer, (y0, y1)


BACKGROUND_PAINTERS: dict[str, BackgroundPainter] = {
    "sky": _sky,
    "water": _water,
    "road": _road,
    "railroad": _railroad,
    "grass": _grass,
    "tree": _tree,
}
