"""MS COCO 2014 in VOC layout: image-level labels and ground-truth label maps from the instances JSON.

Each split's JSON is read once; annotations are grouped by image in one pass and images are never
decoded to learn their ids or sizes. Label maps: 0 background, 1..80 the categories in ascending
category-id order, instances drawn in annotation order (later ones overwrite earlier ones), crowd
regions 255 where no instance was drawn. Image-level labels are those of the reference's label
files: the category of every annotation, crowds included, whether or not it survives in the label
map; they are written as VOC XML annotations. Images without any annotation stay in the splits, as
in the reference (an all-zero label vector there): an XML file without objects and an all-background
label map; the COCO manifest allows them (``allow_unlabelled_images``) and every stage treats them as
all background.
"""

from __future__ import annotations

import functools
import json
import math
import os
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from wsss.data.voc_writer import write_annotation, write_split
from wsss.errors import DatasetError
from wsss.io import atomic_directory, save_label_png
from wsss.palette import IGNORE_INDEX
from wsss.parallel import map_in_processes

SPLITS = {"train": "train2014", "val": "val2014"}


def rle_counts_from_string(text: str) -> list[int]:
    """Run lengths of COCO's compressed RLE string (the LEB128-like code of its mask API)."""
    counts: list[int] = []
    position = 0
    while position < len(text):
        value, shift, more = 0, 0, True
        while more:
            code = ord(text[position]) - 48
            value |= (code & 0x1F) << (5 * shift)
            more = bool(code & 0x20)
            position += 1
            shift += 1
            if not more and code & 0x10:
                value |= -1 << (5 * shift)
        if len(counts) > 2:
            value += counts[-2]
        counts.append(value)
    return counts


def decode_segmentation(segmentation: list | dict, height: int, width: int) -> np.ndarray:
    """(H, W) bool mask of a COCO segmentation: polygons, uncompressed RLE or compressed RLE."""
    if isinstance(segmentation, list):  # polygons [[x1, y1, x2, y2, ...], ...]
        canvas = Image.new("1", (width, height), 0)
        draw = ImageDraw.Draw(canvas)
        for polygon in segmentation:
            if len(polygon) >= 6:
                draw.polygon([(float(x), float(y)) for x, y in zip(polygon[0::2], polygon[1::2])], fill=1, outline=1)
        return np.asarray(canvas, dtype=bool)
    counts = segmentation["counts"]
    counts = rle_counts_from_string(counts) if isinstance(counts, str) else [int(c) for c in counts]
    rle_height, rle_width = segmentation["size"]
    flat = np.zeros(rle_height * rle_width, dtype=bool)
    position, value = 0, False
    for count in counts:
        flat[position : position + count] = value
        position += count
        value = not value
    return flat.reshape(rle_width, rle_height).T  # column-major, like the mask API


def render_label_map(height: int, width: int, annotations: list[dict], category_label: dict[int, int]) -> np.ndarray:
    """The reference's ground truth for one image (see the module docstring)."""
    labels = np.zeros((height, width), dtype=np.uint8)
    crowd = np.zeros((height, width), dtype=bool)
    for annotation in annotations:
        mask = decode_segmentation(annotation["segmentation"], height, width)
        if annotation.get("iscrowd", 0):
            crowd |= mask
        else:
            labels[mask] = category_label[annotation["category_id"]]
    labels[crowd & (labels == 0)] = IGNORE_INDEX
    return labels


def annotation_objects(
    annotations: list[dict], category_name: dict[int, str], height: int, width: int
) -> list[tuple[str, tuple[int, int, int, int]]]:
    """VOC objects (class name, 1-based inclusive box) of every annotation, crowds included, from COCO's bbox."""
    objects = []
    for annotation in annotations:
        x, y, w, h = annotation["bbox"]
        box = (
            min(width, max(1, int(x) + 1)),
            min(height, max(1, int(y) + 1)),
            min(width, max(1, math.ceil(x + w))),
            min(height, max(1, math.ceil(y + h))),
        )
        objects.append((category_name[annotation["category_id"]], box))
    return objects


def _render_one(
    task: tuple[str, int, int, list[dict]], category_label: dict[int, int], category_name: dict[int, str], folder: str
) -> None:
    image_id, height, width, annotations = task
    save_label_png(
        Path(folder) / "SegmentationClass" / f"{image_id}.png",
        render_label_map(height, width, annotations, category_label),
    )
    write_annotation(
        Path(folder) / "Annotations" / f"{image_id}.xml",
        f"{image_id}.jpg",
        (height, width),
        annotation_objects(annotations, category_name, height, width),
    )


def read_instances(path: Path) -> tuple[list[dict], dict[int, list[dict]], list[dict]]:
    """(images, annotations by image id, categories) of one instances JSON, read once."""
    try:
        with open(path) as handle:
            data = json.load(handle)
    except FileNotFoundError:
        raise DatasetError(f"{path}: COCO instances file is missing") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise DatasetError(f"{path}: not a readable JSON file ({exc})") from None
    missing = [key for key in ("images", "annotations", "categories") if key not in data]
    if missing:
        raise DatasetError(f"{path}: not a COCO instances file (no {', '.join(missing)})")
    by_image: dict[int, list[dict]] = {}
    for annotation in data["annotations"]:
        by_image.setdefault(annotation["image_id"], []).append(annotation)
    return data["images"], by_image, data["categories"]


def prepare_coco(
    coco_root: str | os.PathLike, output: str | os.PathLike, class_names: list[str], workers: int = 1
) -> dict:
    """Write the VOC-layout root: JPEGImages links, SegmentationClass PNGs, Annotations XML, split files.

    ``class_names`` (the manifest's, in label order) must match the categories sorted by id; the XML
    files use them. Images without any annotation (crowds count) are kept, with no label, and
    counted in ``without_labels``.
    """
    coco_root, output = Path(coco_root), Path(output)
    summary: dict = {"splits": {}, "without_labels": {}}
    with atomic_directory(output) as folder:
        (folder / "JPEGImages").mkdir()
        for split, name in SPLITS.items():
            images, by_image, categories = read_instances(coco_root / "annotations" / f"instances_{name}.json")
            ordered = sorted(categories, key=lambda c: c["id"])
            found = [c["name"] for c in ordered]
            if [n.replace(" ", "") for n in found] != [n.replace(" ", "") for n in class_names]:
                instances_json = coco_root / "annotations" / f"instances_{name}.json"
                raise DatasetError(
                    f"{instances_json}: categories {found[:5]}... "
                    f"do not match the manifest's classes {class_names[:5]}..."
                )
            category_label = {c["id"]: k + 1 for k, c in enumerate(ordered)}
            category_name = {c["id"]: class_names[k] for k, c in enumerate(ordered)}
            tasks, ids = [], []
            for image in images:
                annotations = by_image.get(image["id"], [])
                source = coco_root / name / image["file_name"]
                if not source.is_file():
                    raise DatasetError(f"{source}: image listed in instances_{name}.json is missing")
                image_id = Path(image["file_name"]).stem
                (folder / "JPEGImages" / f"{image_id}.jpg").symlink_to(source.resolve())
                tasks.append((image_id, image["height"], image["width"], annotations))
                ids.append(image_id)
            (folder / "SegmentationClass").mkdir(exist_ok=True)
            (folder / "Annotations").mkdir(exist_ok=True)
            map_in_processes(
                functools.partial(
                    _render_one, category_label=category_label, category_name=category_name, folder=str(folder)
                ),
                tasks,
                workers,
                chunksize=64,
            )
            write_split(folder / "ImageSets" / "Segmentation" / f"{split}.txt", ids)
            summary["splits"][split] = len(ids)
            summary["without_labels"][split] = sum(1 for task in tasks if not task[3])
    return summary
