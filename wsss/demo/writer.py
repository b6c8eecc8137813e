"""Writing the demo world to disk as a PASCAL VOC-layout dataset, with its statistics and manifest.

Image ``index`` of a split is drawn from its own random stream, so the images are written by a
pool of processes in any order and still give the same bytes as one process.
"""

from __future__ import annotations

import os
from dataclasses import asdict
from pathlib import Path

import numpy as np

from wsss.data.voc_writer import instance_boxes, write_annotation, write_background_regions, write_split
from wsss.demo.render import background_regions, render_scene
from wsss.demo.scenes import BACKGROUND_OF, BACKGROUNDS, CLASSES, Scene, WorldSettings, image_rng, sample_scene
from wsss.io import save_label_png, save_rgb
from wsss.palette import IGNORE_INDEX
from wsss.parallel import map_in_processes


def render_image(
    seed: int, split: str, index: int, settings: WorldSettings
) -> tuple[Scene, np.ndarray, np.ndarray, np.ndarray]:
    """Sample and render image ``index`` of ``split``; resamples until a class is visible."""
    rng = image_rng(seed, split, index)
    while True:
        scene = sample_scene(rng, settings)
        rgb, labels, instances = render_scene(scene, settings)
        if present_classes(labels):
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
