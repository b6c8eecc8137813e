"""A synthetic world in PASCAL VOC layout on which weak supervision is hard in the CLIMS way.

Six VOC object classes each come with a characteristic co-occurring background (boat-water,
train-railroad, ...) that appears with the object most of the time but not always, and that
also appears alone. The backgrounds reuse object colours (white clouds and aeroplanes, grey
roads and cars, brown tree trunks and birds), and the objects have small discriminative parts
(wheels, windows, spots), so a plain classifier's CAM is tempted to fire on the background and
on part of the object only. Everything is drawn from a seeded generator per image: the same
seed gives byte-identical files.

This module holds the world's classes, its settings and the sampling of a scene (which
classes, which backgrounds, where); the painters say what each looks like, rendering turns
a scene into pixels.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from wsss.config import schema_defaults, tuple_if_list
from wsss.demo.background_painters import BACKGROUND_PAINTERS, Band
from wsss.demo.object_painters import OBJECT_PAINTERS, OBJECT_WIDTH
from wsss.demo.shapes import Color, Layer, jitter, pick

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


@dataclass(frozen=True)
@schema_defaults("demo_world")
class WorldSettings:
    """How the world is drawn; every field but ``supersample`` is a key of the run config's
    ``demo_world`` section, its default the schema's."""

    image_size: int
    cooccurrence: float
    stray_background: float
    classes_per_image: tuple[float, ...]
    second_instance: float
    min_object_pixels: int
    boundary_ignore: int
    noise_std: float
    supersample: int = 2

    @staticmethod
    def drawing_keys(demo_world: dict) -> dict:
        """The config's demo_world keys that say how the world is drawn (not where, how many, or its seed)."""
        return {k: v for k, v in demo_world.items() if k not in ("root", "seed", "split_sizes", "sheet_images")}

    @classmethod
    def from_config(cls, world: dict) -> WorldSettings:
        """Settings from the config's demo_world drawing keys (lists become tuples; unknown keys fail)."""
        return cls(**{k: tuple_if_list(v) for k, v in world.items()})


@dataclass
class Scene:
    """Everything needed to render one image: base colour, background layers, object layers."""

    base: Color
    base_shade: Color
    backgrounds: list[Layer]
    objects: list[Layer]
    brightness: float
    noise_seed: int


def _place(rng: np.random.Generator, name: str, width: float, size: int, band: Band | None) -> tuple[float, float]:
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
    base = pick(rng, [(200, 190, 170), (180, 175, 165), (210, 200, 185), (160, 150, 140), (190, 180, 200)], 15)
    return Scene(
        base=base,
        base_shade=jitter(rng, tuple(int(v * 0.9) for v in base), 8),
        backgrounds=backgrounds,
        objects=objects,
        brightness=float(rng.uniform(0.85, 1.1)),
        noise_seed=int(rng.integers(2**31)),
    )


def image_rng(seed: int, split: str, index: int) -> np.random.Generator:
    """Independent, reproducible random stream for image ``index`` of ``split``."""
    split_key = int.from_bytes(split.encode()[:8].ljust(8, b"\0"), "little")
    return np.random.default_rng([seed, split_key, index])
