"""A synthetic world in PASCAL VOC layout on which weak supervision is hard in the CLIMS way.

Six VOC object classes each come with a characteristic co-occurring background (boat-water,
train-railroad, ...) that appears with the object most of the time but not always, and that
also appears alone. The backgrounds reuse object colours (white clouds and aeroplanes, grey
roads and cars, brown tree trunks and birds), and the objects have small discriminative parts
(wheels, windows, spots), so a plain classifier's CAM is tempted to fire on the background and
on part of the object only. Everything is drawn from a seeded generator per image: the same
seed gives byte-identical files.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from wsss.data.palette import IGNORE_INDEX
from wsss.parallel import map_in_processes

# Object classes in label order (a subset of VOC, VOC order) and their co-occurring background.
CLASSES: tuple[str, ...] = ("aeroplane", "bird", "boat", "car", "cow", "train")
BACKGROUND_OF: dict[str, str] = {
    "aeroplane": "sky",
    "bird": "tree",
    "boat": "water",
    "car": "road",
    "cow": "grass",
    "train": "railroad",
}
BACKGROUNDS: tuple[str, ...] = tuple(BACKGROUND_OF[c] for c in CLASSES)

Color = tuple[int, int, int]


@dataclass(frozen=True)
class WorldSettings:
    """How the world is drawn; every field comes from the run config's ``demo_world`` section."""

    image_size: int = 128
    cooccurrence: float = 0.9
    stray_background: float = 0.3
    classes_per_image: tuple[float, ...] = (0.55, 0.33, 0.12)
    second_instance: float = 0.25
    min_object_pixels: int = 24
    boundary_ignore: int = 1
    noise_std: float = 6.0
    supersample: int = 2

    @staticmethod
    def drawing_keys(demo_world: dict) -> dict:
        """The config's demo_world keys that say how the world is drawn (not where, how many, or its seed)."""
        return {k: v for k, v in demo_world.items() if k not in ("root", "seed", "split_sizes", "sheet_images")}

    @classmethod
    def from_config(cls, world: dict) -> WorldSettings:
        """Settings from the config's demo_world drawing keys (lists become tuples; unknown keys fail)."""
        return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in world.items()})


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


@dataclass
class Scene:
    """Everything needed to render one image: base colour, background layers, object layers."""

    base: Color
    base_shade: Color
    backgrounds: list[Layer]
    objects: list[Layer]
    brightness: float
    noise_seed: int


def _jitter(rng: np.random.Generator, color: Color, amount: int = 18) -> Color:
    values = np.clip(np.array(color) + rng.integers(-amount, amount + 1, size=3), 0, 255)
    return tuple(int(v) for v in values)


def _pick(rng: np.random.Generator, options: list[Color], amount: int = 18) -> Color:
    return _jitter(rng, options[int(rng.integers(len(options)))], amount)


def _ellipse(cx: float, cy: float, rx: float, ry: float) -> list[float]:
    return [cx - rx, cy - ry, cx + rx, cy + ry]


def _mirror(points: list[float], cx: float, flip: bool) -> list[float]:
    """Mirror x coordinates of a flat point list around ``cx`` when ``flip``."""
    if not flip:
        return points
    return [2 * cx - v if i % 2 == 0 else v for i, v in enumerate(points)]


def _mirror_box(box: list[float], cx: float, flip: bool) -> list[float]:
    if not flip:
        return box
    x0, y0, x1, y1 = box
    return [2 * cx - x1, y0, 2 * cx - x0, y1]


# ---------------------------------------------------------------- backgrounds (label 0)
# Each returns a layer and the vertical band (y0, y1) in which its object is placed.


def _sky(rng, size) -> tuple[Layer, tuple[float, float]]:
    height = size * rng.uniform(0.35, 0.65)
    layer = Layer(
        "sky",
        0,
        [Shape("rectangle", [0, 0, size, height], _pick(rng, [(110, 170, 235), (140, 190, 240), (90, 150, 220)]))],
    )
    for _ in range(int(rng.integers(0, 4))):  # clouds share the aeroplane's whites and greys
        cx, cy = rng.uniform(0, size), rng.uniform(0.1, 0.9) * height
        cloud = _pick(rng, [(245, 245, 245), (215, 220, 225)], 8)
        for _ in range(3):
            layer.shapes.append(
                Shape(
                    "ellipse",
                    _ellipse(
                        cx + rng.uniform(-8, 8) * size / 128,
                        cy + rng.uniform(-3, 3),
                        size * rng.uniform(0.05, 0.1),
                        size * rng.uniform(0.03, 0.05),
                    ),
                    cloud,
                )
            )
    return layer, (0.0, height)


def _band(rng, size, low: float, high: float) -> tuple[float, float]:
    height = size * rng.uniform(low, high)
    top = rng.uniform(0.3 * size, size - height)
    return top, top + height


def _water(rng, size):
    y0, y1 = _band(rng, size, 0.3, 0.5)
    y1 = max(y1, size * rng.uniform(0.85, 1.0))
    color = _pick(rng, [(40, 90, 160), (30, 110, 140), (60, 100, 170)])
    layer = Layer("water", 0, [Shape("rectangle", [0, y0, size, y1], color)])
    for _ in range(int(rng.integers(4, 9))):  # wave crests share the boat's white hulls
        y, x = rng.uniform(y0 + 2, y1), rng.uniform(-10, size)
        crest = _pick(rng, [(200, 220, 235), (120, 160, 200)], 10)
        layer.shapes.append(Shape("line", [x, y, x + size * rng.uniform(0.1, 0.3), y], crest, width=2))
    return layer, (y0, y1)


def _road(rng, size):
    y0, y1 = _band(rng, size, 0.22, 0.35)
    color = _pick(rng, [(85, 85, 90), (110, 110, 110), (70, 72, 78)], 10)
    layer = Layer("road", 0, [Shape("rectangle", [0, y0, size, y1], color)])
    mid = (y0 + y1) / 2
    dash = _pick(rng, [(235, 235, 235), (230, 200, 60)], 10)
    step = size / 6
    for x in np.arange(rng.uniform(0, step), size, step):
        layer.shapes.append(Shape("rectangle", [x, mid - 1.5, x + step / 2, mid + 1.5], dash))
    return layer, (y0, y1)


def _railroad(rng, size):
    y0, y1 = _band(rng, size, 0.16, 0.25)
    gravel = _pick(rng, [(120, 110, 100), (140, 125, 105)], 12)
    layer = Layer("railroad", 0, [Shape("rectangle", [0, y0, size, y1], gravel)])
    tie = _pick(rng, [(95, 60, 35), (110, 75, 45)], 10)
    step = size / 14
    for x in np.arange(rng.uniform(0, step), size, step):
        layer.shapes.append(Shape("rectangle", [x, y0 + 2, x + step * 0.4, y1 - 2], tie))
    rail = _pick(rng, [(170, 170, 175), (140, 140, 150)], 8)
    for frac in (0.3, 0.7):
        y = y0 + frac * (y1 - y0)
        layer.shapes.append(Shape("line", [0, y, size, y], rail, width=2))
    return layer, (y0, y1)


def _grass(rng, size):
    y0 = size * rng.uniform(0.4, 0.7)
    y1 = size
    green = _pick(rng, [(70, 150, 60), (90, 160, 70), (60, 130, 50)])
    layer = Layer("grass", 0, [Shape("rectangle", [0, y0, size, y1], green)])
    for _ in range(int(rng.integers(0, 3))):  # dirt patches share the cow's browns
        cx, cy = rng.uniform(0, size), rng.uniform(y0, y1)
        layer.shapes.append(
            Shape(
                "ellipse",
                _ellipse(cx, cy, size * rng.uniform(0.05, 0.12), size * rng.uniform(0.02, 0.05)),
                _pick(rng, [(140, 100, 60), (120, 85, 50)]),
            )
        )
    for _ in range(int(rng.integers(10, 25))):
        x, y = rng.uniform(0, size), rng.uniform(y0, y1)
        layer.shapes.append(
            Shape("line", [x, y, x + rng.uniform(-2, 2), y - size * 0.04], _jitter(rng, (40, 100, 35), 15))
        )
    return layer, (y0, y1)


def _tree(rng, size):
    layer = Layer("tree", 0)
    canopy_boxes = []
    for _ in range(int(rng.integers(1, 3))):
        cx = rng.uniform(0.1, 0.9) * size
        top = rng.uniform(0.0, 0.35) * size
        radius = size * rng.uniform(0.14, 0.24)
        trunk_bottom = min(size, top + radius * 2 + size * rng.uniform(0.15, 0.35))
        trunk = _pick(rng, [(100, 70, 40), (85, 60, 35)])  # shared with the bird's browns
        layer.shapes.append(
            Shape("rectangle", [cx - radius * 0.18, top + radius, cx + radius * 0.18, trunk_bottom], trunk)
        )
        leaf = _pick(rng, [(35, 100, 40), (50, 115, 45), (30, 85, 50)])
        for _ in range(4):
            ox, oy = rng.uniform(-0.5, 0.5) * radius, rng.uniform(-0.4, 0.4) * radius
            layer.shapes.append(
                Shape("ellipse", _ellipse(cx + ox, top + radius + oy, radius * 0.75, radius * 0.65), leaf)
            )
        canopy_boxes.append((top, top + 2 * radius))
    y0 = min(b[0] for b in canopy_boxes)
    y1 = max(b[1] for b in canopy_boxes)
    return layer, (y0, y1)


BACKGROUND_PAINTERS: dict[str, Callable] = {
    "sky": _sky,
    "water": _water,
    "road": _road,
    "railroad": _railroad,
    "grass": _grass,
    "tree": _tree,
}


# ---------------------------------------------------------------- objects
# Each painter draws an object of width ``w`` whose bottom-centre (or centre) sits at (cx, cy).


def _aeroplane(rng, cx, cy, w, flip) -> list[Shape]:
    body = _pick(rng, [(235, 235, 240), (200, 205, 210), (180, 185, 195), (230, 60, 50)], 12)
    h = w * rng.uniform(0.11, 0.16)
    shapes = [Shape("ellipse", _ellipse(cx, cy, w / 2, h / 2), body)]
    wing = _jitter(rng, tuple(int(v * 0.85) for v in body), 6)
    wing_pts = [
        cx + 0.1 * w,
        cy,
        cx - 0.15 * w,
        cy,
        cx - 0.3 * w,
        cy + 0.45 * w * rng.uniform(0.6, 1.0),
        cx - 0.18 * w,
        cy + 0.45 * w * rng.uniform(0.6, 1.0),
    ]
    shapes.append(Shape("polygon", _mirror(wing_pts, cx, flip), wing))
    tail_pts = [cx + 0.35 * w, cy, cx + 0.5 * w, cy, cx + 0.5 * w, cy - 0.25 * w]
    shapes.append(Shape("polygon", _mirror(tail_pts, cx, flip), wing))
    window = (40, 60, 90)
    for i in range(int(rng.integers(3, 7))):  # a row of cabin windows: the discriminative part
        x = cx - 0.3 * w + i * 0.09 * w
        shapes.append(Shape("ellipse", _mirror_box(_ellipse(x, cy - h * 0.1, w * 0.02, h * 0.18), cx, flip), window))
    return shapes


def _bird(rng, cx, cy, w, flip) -> list[Shape]:
    body = _pick(rng, [(110, 75, 45), (60, 60, 70), (200, 70, 50), (230, 200, 70)], 15)
    shapes = [Shape("ellipse", _ellipse(cx, cy, w * 0.38, w * 0.24), body)]
    head = (cx - w * 0.36, cy - w * 0.2)
    shapes.append(Shape("ellipse", _mirror_box(_ellipse(*head, w * 0.17, w * 0.17), cx, flip), body))
    beak = [
        head[0] - w * 0.15,
        head[1] + w * 0.02,
        head[0] - w * 0.3,
        head[1] + w * 0.06,
        head[0] - w * 0.14,
        head[1] + w * 0.1,
    ]
    shapes.append(Shape("polygon", _mirror(beak, cx, flip), (240, 160, 30)))
    shapes.append(
        Shape(
            "ellipse",
            _mirror_box(_ellipse(head[0] - w * 0.04, head[1] - w * 0.03, w * 0.04, w * 0.04), cx, flip),
            (15, 15, 15),
        )
    )
    wing = tuple(int(v * 0.7) for v in body)
    shapes.append(
        Shape(
            "polygon",
            _mirror([cx - w * 0.1, cy - w * 0.05, cx + w * 0.3, cy - w * 0.05, cx + w * 0.45, cy - w * 0.4], cx, flip),
            wing,
        )
    )
    shapes.append(
        Shape(
            "polygon",
            _mirror([cx + w * 0.3, cy, cx + w * 0.5, cy - w * 0.08, cx + w * 0.5, cy + w * 0.1], cx, flip),
            wing,
        )
    )
    return shapes


def _boat(rng, cx, cy, w, flip) -> list[Shape]:
    hull = _pick(rng, [(240, 240, 240), (180, 40, 40), (60, 60, 70), (200, 160, 60)], 12)
    h = w * rng.uniform(0.2, 0.3)
    shapes = [
        Shape(
            "polygon",
            _mirror([cx - w / 2, cy - h, cx + w / 2, cy - h, cx + w * 0.32, cy, cx - w * 0.35, cy], cx, flip),
            hull,
        )
    ]
    shapes.append(Shape("rectangle", [cx - w / 2, cy - h, cx + w / 2, cy - h * 0.8], _jitter(rng, (30, 30, 30), 10)))
    if rng.random() < 0.5:  # a sail and mast
        mast = cx - w * 0.05
        shapes.append(Shape("line", [mast, cy - h, mast, cy - h - w * 0.7], (70, 50, 30), width=2))
        sail = _pick(rng, [(245, 240, 225), (230, 80, 60), (250, 200, 80)], 8)
        shapes.append(
            Shape(
                "polygon",
                _mirror([mast + 2, cy - h - w * 0.65, mast + 2, cy - h - 2, mast + w * 0.4, cy - h - 2], cx, flip),
                sail,
            )
        )
    else:  # a cabin with portholes
        cabin = _pick(rng, [(230, 230, 230), (200, 190, 170)], 10)
        shapes.append(
            Shape("rectangle", _mirror_box([cx - w * 0.25, cy - h - w * 0.2, cx + w * 0.15, cy - h], cx, flip), cabin)
        )
        for i in range(3):
            x = cx - w * 0.2 + i * w * 0.12
            shapes.append(
                Shape("ellipse", _mirror_box(_ellipse(x, cy - h - w * 0.1, w * 0.03, w * 0.03), cx, flip), (40, 60, 90))
            )
    return shapes


def _car(rng, cx, cy, w, flip) -> list[Shape]:
    paint = _pick(rng, [(190, 30, 30), (30, 60, 170), (230, 200, 40), (120, 120, 125), (235, 235, 235)], 15)
    h = w * rng.uniform(0.25, 0.32)
    wheel_r = w * 0.11
    body_bottom = cy - wheel_r * 0.8
    shapes = [Shape("rectangle", [cx - w / 2, body_bottom - h, cx + w / 2, body_bottom], paint)]
    cabin = [
        cx - w * 0.3,
        body_bottom - h,
        cx - w * 0.2,
        body_bottom - h - w * 0.22,
        cx + w * 0.18,
        body_bottom - h - w * 0.22,
        cx + w * 0.3,
        body_bottom - h,
    ]
    shapes.append(Shape("polygon", _mirror(cabin, cx, flip), paint))
    glass = _jitter(rng, (170, 210, 235), 10)
    shapes.append(
        Shape(
            "polygon",
            _mirror(
                [
                    cx - w * 0.24,
                    body_bottom - h,
                    cx - w * 0.17,
                    body_bottom - h - w * 0.18,
                    cx - w * 0.02,
                    body_bottom - h - w * 0.18,
                    cx - w * 0.02,
                    body_bottom - h,
                ],
                cx,
                flip,
            ),
            glass,
        )
    )
    shapes.append(
        Shape(
            "polygon",
            _mirror(
                [
                    cx + w * 0.02,
                    body_bottom - h,
                    cx + w * 0.02,
                    body_bottom - h - w * 0.18,
                    cx + w * 0.15,
                    body_bottom - h - w * 0.18,
                    cx + w * 0.24,
                    body_bottom - h,
                ],
                cx,
                flip,
            ),
            glass,
        )
    )
    for x in (cx - w * 0.3, cx + w * 0.3):  # wheels: the discriminative part
        shapes.append(Shape("ellipse", _ellipse(x, cy - wheel_r, wheel_r, wheel_r), (20, 20, 20)))
        shapes.append(Shape("ellipse", _ellipse(x, cy - wheel_r, wheel_r * 0.45, wheel_r * 0.45), (170, 170, 175)))
    shapes.append(
        Shape(
            "rectangle",
            _mirror_box([cx - w / 2, body_bottom - h * 0.75, cx - w * 0.44, body_bottom - h * 0.5], cx, flip),
            (250, 240, 170),
        )
    )
    return shapes


def _cow(rng, cx, cy, w, flip) -> list[Shape]:
    coat = _pick(rng, [(245, 245, 240), (130, 85, 50), (40, 35, 30), (170, 120, 80)], 12)
    spot = (25, 25, 25) if sum(coat) > 450 else (240, 240, 235)
    h = w * rng.uniform(0.32, 0.4)
    leg_h = w * 0.22
    top = cy - leg_h - h
    shapes = []
    for x in (cx - w * 0.32, cx - w * 0.2, cx + w * 0.2, cx + w * 0.3):
        shapes.append(Shape("rectangle", [x - w * 0.04, cy - leg_h - 2, x + w * 0.04, cy], coat))
        shapes.append(Shape("rectangle", [x - w * 0.04, cy - w * 0.04, x + w * 0.04, cy], (30, 30, 30)))
    shapes.append(Shape("ellipse", [cx - w * 0.4, top, cx + w * 0.4, cy - leg_h + 2], coat))
    if rng.random() < 0.8:  # patches: the discriminative part
        for _ in range(int(rng.integers(2, 5))):
            sx, sy = cx + rng.uniform(-0.25, 0.25) * w, top + rng.uniform(0.2, 0.7) * h
            shapes.append(
                Shape("ellipse", _ellipse(sx, sy, w * rng.uniform(0.05, 0.1), h * rng.uniform(0.1, 0.2)), spot)
            )
    head = [cx - w * 0.55, top - h * 0.15, cx - w * 0.33, top + h * 0.55]
    shapes.append(Shape("ellipse", _mirror_box(head, cx, flip), coat))
    shapes.append(
        Shape(
            "ellipse",
            _mirror_box([cx - w * 0.56, top + h * 0.3, cx - w * 0.42, top + h * 0.6], cx, flip),
            (230, 170, 170),
        )
    )
    shapes.append(
        Shape(
            "polygon",
            _mirror(
                [cx - w * 0.5, top - h * 0.1, cx - w * 0.55, top - h * 0.35, cx - w * 0.46, top - h * 0.05], cx, flip
            ),
            (230, 220, 190),
        )
    )
    return shapes


def _train(rng, cx, cy, w, flip) -> list[Shape]:
    paint = _pick(rng, [(180, 40, 40), (40, 80, 160), (60, 120, 70), (150, 150, 155), (230, 180, 40)], 15)
    h = w * rng.uniform(0.2, 0.28)
    wheel_r = max(w * 0.035, 1.5)
    bottom = cy - wheel_r * 1.5
    cars = int(rng.integers(1, 4))
    car_w = w / cars
    shapes = []
    for k in range(cars):
        x0 = cx - w / 2 + k * car_w
        box = [x0 + 1, bottom - h, x0 + car_w - 1, bottom]
        if k == 0:  # the sloped nose of the locomotive
            nose = [
                x0 + car_w * 0.25,
                bottom - h,
                x0 + car_w - 1,
                bottom - h,
                x0 + car_w - 1,
                bottom,
                x0 - car_w * 0.1,
                bottom,
            ]
            shapes.append(Shape("polygon", _mirror(nose, cx, flip), paint))
        else:
            shapes.append(Shape("rectangle", _mirror_box(box, cx, flip), paint))
        stripe = _jitter(rng, (240, 240, 240), 8)
        shapes.append(
            Shape(
                "rectangle",
                _mirror_box(
                    [box[0] + (car_w * 0.2 if k == 0 else 0), bottom - h * 0.3, box[2], bottom - h * 0.22], cx, flip
                ),
                stripe,
            )
        )
        n_windows = max(2, int(car_w / (w * 0.09)))
        for i in range(n_windows):  # a row of windows: the discriminative part
            wx = x0 + car_w * (0.35 if k == 0 else 0.1) + i * car_w * 0.8 / (n_windows + 1)
            shapes.append(
                Shape(
                    "rectangle",
                    _mirror_box([wx, bottom - h * 0.8, wx + car_w * 0.06, bottom - h * 0.45], cx, flip),
                    (200, 225, 240),
                )
            )
        for frac in (0.2, 0.8):
            wx = x0 + car_w * frac
            shapes.append(Shape("ellipse", _ellipse(wx, cy - wheel_r, wheel_r, wheel_r), (25, 25, 25)))
    return shapes


OBJECT_PAINTERS: dict[str, Callable] = {
    "aeroplane": _aeroplane,
    "bird": _bird,
    "boat": _boat,
    "car": _car,
    "cow": _cow,
    "train": _train,
}

# Object width range as a fraction of the image side.
OBJECT_WIDTH: dict[str, tuple[float, float]] = {
    "aeroplane": (0.45, 0.75),
    "bird": (0.2, 0.34),
    "boat": (0.38, 0.62),
    "car": (0.36, 0.56),
    "cow": (0.34, 0.52),
    "train": (0.6, 0.95),
}


def _place(rng, name: str, width: float, size: int, band: tuple[float, float] | None) -> tuple[float, float]:
    """Anchor point for an object: inside its background's band when present, else anywhere."""
    cx = rng.uniform(width * 0.45, size - width * 0.45)
    if band is None:
        low, high = 0.25 * size, 0.95 * size
    elif name == "aeroplane":
        low, high = band[0] + 0.2 * (band[1] - band[0]), band[1] - 0.2 * (band[1] - band[0])
    elif name == "bird":
        low, high = band
    else:  # objects standing on a band: their bottom lies inside it
        low, high = band[0] + 0.45 * (band[1] - band[0]), band[1] - 0.05 * (band[1] - band[0])
    return cx, rng.uniform(low, max(low + 1.0, high))


def sample_scene(rng: np.random.Generator, settings: WorldSettings) -> Scene:
    """Draw the classes, their backgrounds (usually), stray backgrounds and the objects."""
    size = settings.image_size
    probs = np.array(settings.classes_per_image, dtype=float)
    count = 1 + int(rng.choice(len(probs), p=probs / probs.sum()))
    classes = sorted(rng.choice(len(CLASSES), size=count, replace=False).tolist())
    background_names = [BACKGROUND_OF[CLASSES[k]] for k in classes if rng.random() < settings.cooccurrence]
    absent = [
        b for b in BACKGROUNDS if b not in background_names and b not in (BACKGROUND_OF[CLASSES[k]] for k in classes)
    ]
    if absent and rng.random() < settings.stray_background:
        background_names.append(absent[int(rng.integers(len(absent)))])
    # Paint order: sky at the top first, trees last so that they stand in front of the bands.
    order = ["sky", "grass", "water", "railroad", "road", "tree"]
    backgrounds, bands = [], {}
    for name in sorted(background_names, key=order.index):
        layer, band = BACKGROUND_PAINTERS[name](rng, size)
        backgrounds.append(layer)
        bands[name] = band
    objects = []
    for k in classes:
        name = CLASSES[k]
        instances = 1 + int(rng.random() < settings.second_instance)
        for _ in range(instances):
            width = size * rng.uniform(*OBJECT_WIDTH[name]) / (1.0 + 0.3 * (instances - 1))
            cx, cy = _place(rng, name, width, size, bands.get(BACKGROUND_OF[name]))
            shapes = OBJECT_PAINTERS[name](rng, cx, cy, width, bool(rng.random() < 0.5))
            objects.append(Layer(name, k + 1, shapes))
    # Shuffle the drawing order of objects so that occlusion is not tied to class order.
    objects = [objects[i] for i in rng.permutation(len(objects))]
    base = _pick(rng, [(200, 190, 170), (180, 175, 165), (210, 200, 185), (160, 150, 140), (190, 180, 200)], 15)
    return Scene(
        base=base,
        base_shade=_jitter(rng, tuple(int(v * 0.9) for v in base), 8),
        backgrounds=backgrounds,
        objects=objects,
        brightness=float(rng.uniform(0.85, 1.1)),
        noise_seed=int(rng.integers(2**31)),
    )


def _draw(draw: ImageDraw.ImageDraw, shape: Shape, scale: int, fill) -> None:
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
    instance_map = np.asarray(instances, dtype=np.int32)[scale // 2 :: scale, scale // 2 :: scale].astype(np.int16)
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
    return np.asarray(regions)[scale // 2 :: scale, scale // 2 :: scale].copy()


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


def image_rng(seed: int, split: str, index: int) -> np.random.Generator:
    """Independent, reproducible random stream for image ``index`` of ``split``."""
    split_key = int.from_bytes(split.encode()[:8].ljust(8, b"\0"), "little")
    return np.random.default_rng([seed, split_key, index])


def render_image(
    seed: int, split: str, index: int, settings: WorldSettings
) -> tuple[Scene, np.ndarray, np.ndarray, np.ndarray]:
    """Sample and render image ``index`` of ``split``; resamples until a class is visible."""
    rng = image_rng(seed, split, index)
    while True:
        scene = sample_scene(rng, settings)
        rgb, labels, instances = render_scene(scene, settings)
        if np.any((labels != 0) & (labels != IGNORE_INDEX)):
            return scene, rgb, labels, instances


def demo_image_id(split: str, index: int) -> str:
    """The id of image ``index`` of ``split``, e.g. train_00042."""
    return f"{split}_{index:05d}"


def present_classes(labels: np.ndarray) -> list[int]:
    """Class indices (1-based) with at least one labelled pixel."""
    values = np.unique(labels)
    return [int(v) for v in values if v not in (0, IGNORE_INDEX)]


def manifest_dict() -> dict:
    """The dataset manifest describing the demo world (also written into its root)."""
    return {
        "name": "demo_world",
        "classes": list(CLASSES),
        "prompt_template": "a photo of {}.",
        "background_prompts": list(BACKGROUNDS),
        "labels_from": "annotations",
        "image_dir": "JPEGImages",
        "image_suffix": ".jpg",
        "mask_dir": "SegmentationClass",
        "annotation_dir": "Annotations",
        "split_dir": "ImageSets/Segmentation",
    }


def _write_one(task: tuple[str, int, str, int, WorldSettings]) -> dict:
    """Render and write one image with its mask and annotation; return its statistics."""
    from wsss.data.voc_writer import instance_boxes, write_annotation
    from wsss.io import save_label_png, save_rgb

    root, seed, split, index, settings = task
    root_path = Path(root)
    image_id = demo_image_id(split, index)
    scene, rgb, labels, instances = render_image(seed, split, index, settings)
    save_rgb(root_path / "JPEGImages" / f"{image_id}.jpg", rgb)
    save_label_png(root_path / "SegmentationClass" / f"{image_id}.png", labels)
    save_label_png(root_path / "SegmentationBackground" / f"{image_id}.png", background_regions(scene, settings))
    classes = present_classes(labels)
    visible = np.isin(labels, classes)
    objects = [
        (scene.objects[instance - 1].name, box)
        for instance, *box in instance_boxes(instances, visible)
        if scene.objects[instance - 1].label in classes
    ]
    write_annotation(root_path / "Annotations" / f"{image_id}.xml", f"{image_id}.jpg", labels.shape, objects)
    return {
        "id": image_id,
        "classes": [CLASSES[k - 1] for k in classes],
        "backgrounds": [layer.name for layer in scene.backgrounds],
        "object_fraction": float(visible.mean()),
    }


def write_demo_world(
    root: str | os.PathLike, seed: int, split_sizes: dict[str, int], settings: WorldSettings, workers: int = 1
) -> dict:
    """Write the demo world into ``root`` in VOC layout and return generation statistics.

    Images are independent (one random stream each), so ``workers`` processes give the same
    bytes as one.
    """
    from wsss.data.voc_writer import write_background_regions, write_split

    root = Path(root)
    tasks = [(str(root), seed, split, i, settings) for split, size in split_sizes.items() for i in range(size)]
    written = map_in_processes(_write_one, tasks, workers, chunksize=16)  # one pool for every split
    records: dict[str, list[dict]] = {}
    for split, size in split_sizes.items():
        records[split], written = written[:size], written[size:]
        write_split(root / "ImageSets" / "Segmentation" / f"{split}.txt", [r["id"] for r in records[split]])
    write_background_regions(root / "SegmentationBackground", list(BACKGROUNDS), dict(BACKGROUND_OF))
    return {"seed": seed, "settings": asdict(settings), "splits": {s: _split_statistics(r) for s, r in records.items()}}


def _split_statistics(records: list[dict]) -> dict:
    """Per-class image counts, how often each class has its background, stray backgrounds."""
    per_class = {}
    for name in CLASSES:
        with_class = [r for r in records if name in r["classes"]]
        with_background = [r for r in with_class if BACKGROUND_OF[name] in r["backgrounds"]]
        alone = [r for r in records if BACKGROUND_OF[name] in r["backgrounds"] and name not in r["classes"]]
        per_class[name] = {
            "images": len(with_class),
            "with_background": round(len(with_background) / max(1, len(with_class)), 4),
            "background_without_object": len(alone),
        }
    return {
        "images": len(records),
        "classes_per_image": {str(k): sum(len(r["classes"]) == k for r in records) for k in (1, 2, 3)},
        "mean_object_fraction": round(float(np.mean([r["object_fraction"] for r in records])), 4),
        "classes": per_class,
    }
