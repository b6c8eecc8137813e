"""Painters of the six object classes, and how wide each is drawn.

Each object has a small discriminative part (windows, wheels, spots) so that a plain
classifier's CAM is tempted to fire on that part only. A painter draws an object of width
``w`` whose bottom-centre (or centre) sits at (cx, cy), mirrored left-right when ``flip``.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from wsss.demo.shapes import Shape, ellipse, jitter, mirror, mirror_box, pick

ObjectPainter = Callable[[np.random.Generator, float, float, float, bool], list[Shape]]


def _aeroplane(rng: np.random.Generator, cx: float, cy: float, w: float, flip: bool) -> list[Shape]:
    body = pick(rng, [(235, 235, 240), (200, 205, 210), (180, 185, 195), (230, 60, 50)], 12)
    h = w * rng.uniform(0.11, 0.16)
    shapes = [Shape("ellipse", ellipse(cx, cy, w / 2, h / 2), body)]
    wing = jitter(rng, tuple(int(v * 0.85) for v in body), 6)
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
    shapes.append(Shape("polygon", mirror(wing_pts, cx, flip), wing))
    tail_pts = [cx + 0.35 * w, cy, cx + 0.5 * w, cy, cx + 0.5 * w, cy - 0.25 * w]
    shapes.append(Shape("polygon", mirror(tail_pts, cx, flip), wing))
    window = (40, 60, 90)
    for i in range(int(rng.integers(3, 7))):  # a row of cabin windows: the discriminative part
        x = cx - 0.3 * w + i * 0.09 * w
        shapes.append(Shape("ellipse", mirror_box(ellipse(x, cy - h * 0.1, w * 0.02, h * 0.18), cx, flip), window))
    return shapes


def _bird(rng: np.random.Generator, cx: float, cy: float, w: float, flip: bool) -> list[Shape]:
    body = pick(rng, [(110, 75, 45), (60, 60, 70), (200, 70, 50), (230, 200, 70)], 15)
    shapes = [Shape("ellipse", ellipse(cx, cy, w * 0.38, w * 0.24), body)]
    head = (cx - w * 0.36, cy - w * 0.2)
    shapes.append(Shape("ellipse", mirror_box(ellipse(*head, w * 0.17, w * 0.17), cx, flip), body))
    beak = [
        head[0] - w * 0.15,
        head[1] + w * 0.02,
        head[0] - w * 0.3,
        head[1] + w * 0.06,
        head[0] - w * 0.14,
        head[1] + w * 0.1,
    ]
    shapes.append(Shape("polygon", mirror(beak, cx, flip), (240, 160, 30)))
    shapes.append(
        Shape(
            "ellipse",
            mirror_box(ellipse(head[0] - w * 0.04, head[1] - w * 0.03, w * 0.04, w * 0.04), cx, flip),
            (15, 15, 15),
        )
    )
    wing = tuple(int(v * 0.7) for v in body)
    shapes.append(
        Shape(
            "polygon",
            mirror([cx - w * 0.1, cy - w * 0.05, cx + w * 0.3, cy - w * 0.05, cx + w * 0.45, cy - w * 0.4], cx, flip),
            wing,
        )
    )
    shapes.append(
        Shape(
            "polygon",
            mirror([cx + w * 0.3, cy, cx + w * 0.5, cy - w * 0.08, cx + w * 0.5, cy + w * 0.1], cx, flip),
            wing,
        )
    )
    return shapes


def _boat(rng: np.random.Generator, cx: float, cy: float, w: float, flip: bool) -> list[Shape]:
    hull = pick(rng, [(240, 240, 240), (180, 40, 40), (60, 60, 70), (200, 160, 60)], 12)
    h = w * rng.uniform(0.2, 0.3)
    shapes = [
        Shape(
            "polygon",
            mirror([cx - w / 2, cy - h, cx + w / 2, cy - h, cx + w * 0.32, cy, cx - w * 0.35, cy], cx, flip),
            hull,
        )
    ]
    shapes.append(Shape("rectangle", [cx - w / 2, cy - h, cx + w / 2, cy - h * 0.8], jitter(rng, (30, 30, 30), 10)))
    if rng.random() < 0.5:  # a sail and mast
        mast = cx - w * 0.05
        shapes.append(Shape("line", [mast, cy - h, mast, cy - h - w * 0.7], (70, 50, 30), width=2))
        sail = pick(rng, [(245, 240, 225), (230, 80, 60), (250, 200, 80)], 8)
        shapes.append(
            Shape(
                "polygon",
                mirror([mast + 2, cy - h - w * 0.65, mast + 2, cy - h - 2, mast + w * 0.4, cy - h - 2], cx, flip),
                sail,
            )
        )
    else:  # a cabin with portholes
        cabin = pick(rng, [(230, 230, 230), (200, 190, 170)], 10)
        shapes.append(
            Shape("rectangle", mirror_box([cx - w * 0.25, cy - h - w * 0.2, cx + w * 0.15, cy - h], cx, flip), cabin)
        )
        for i in range(3):
            x = cx - w * 0.2 + i * w * 0.12
            shapes.append(
                Shape("ellipse", mirror_box(ellipse(x, cy - h - w * 0.1, w * 0.03, w * 0.03), cx, flip), (40, 60, 90))
            )
    return shapes


def _car(rng: np.random.Generator, cx: float, cy: float, w: float, flip: bool) -> list[Shape]:
    paint = pick(rng, [(190, 30, 30), (30, 60, 170), (230, 200, 40), (120, 120, 125), (235, 235, 235)], 15)
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
    shapes.append(Shape("polygon", mirror(cabin, cx, flip), paint))
    glass = jitter(rng, (170, 210, 235), 10)
    shapes.append(
        Shape(
            "polygon",
            mirror(
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
            mirror(
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
        shapes.append(Shape("ellipse", ellipse(x, cy - wheel_r, wheel_r, wheel_r), (20, 20, 20)))
        shapes.append(Shape("ellipse", ellipse(x, cy - wheel_r, wheel_r * 0.45, wheel_r * 0.45), (170, 170, 175)))
    shapes.append(
        Shape(
            "rectangle",
            mirror_box([cx - w / 2, body_bottom - h * 0.75, cx - w * 0.44, body_bottom - h * 0.5], cx, flip),
            (250, 240, 170),
        )
    )
    return shapes


def _cow(rng: np.random.Generator, cx: float, cy: float, w: float, flip: bool) -> list[Shape]:
    coat = pick(rng, [(245, 245, 240), (130, 85, 50), (40, 35, 30), (170, 120, 80)], 12)
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
                Shape("ellipse", ellipse(sx, sy, w * rng.uniform(0.05, 0.1), h * rng.uniform(0.1, 0.2)), spot)
            )
    head = [cx - w * 0.55, top - h * 0.15, cx - w * 0.33, top + h * 0.55]
    shapes.append(Shape("ellipse", mirror_box(head, cx, flip), coat))
    shapes.append(
        Shape(
            "ellipse",
            mirror_box([cx - w * 0.56, top + h * 0.3, cx - w * 0.42, top + h * 0.6], cx, flip),
            (230, 170, 170),
        )
    )
    shapes.append(
        Shape(
            "polygon",
            mirror(
                [cx - w * 0.5, top - h * 0.1, cx - w * 0.55, top - h * 0.35, cx - w * 0.46, top - h * 0.05], cx, flip
            ),
            (230, 220, 190),
        )
    )
    return shapes


def _train(rng: np.random.Generator, cx: float, cy: float, w: float, flip: bool) -> list[Shape]:
    paint = pick(rng, [(180, 40, 40), (40, 80, 160), (60, 120, 70), (150, 150, 155), (230, 180, 40)], 15)
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
            shapes.append(Shape("polygon", mirror(nose, cx, flip), paint))
        else:
            shapes.append(Shape("rectangle", mirror_box(box, cx, flip), paint))
        stripe = jitter(rng, (240, 240, 240), 8)
        shapes.append(
            Shape(
                "rectangle",
                mirror_box(
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
                    mirror_box([wx, bottom - h * 0.8, wx + car_w * 0.06, bottom - h * 0.45], cx, flip),
                    (200, 225, 240),
                )
            )
        for frac in (0.2, 0.8):
            wx = x0 + car_w * frac
            shapes.append(Shape("ellipse", ellipse(wx, cy - wheel_r, wheel_r, wheel_r), (25, 25, 25)))
    return shapes


OBJECT_PAINTERS: dict[str, ObjectPainter] = {
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
