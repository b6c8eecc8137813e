"""A miniature MS COCO 2014 (train2014/, val2014/, annotations/instances_*2014.json) in the real format.

Images around 640x480 (landscape, portrait, square); the 80 categories with COCO's own ids (1-90 with
gaps) and supercategories; instances as polygons, one as a compressed RLE string, crowds as
uncompressed RLE (column-major counts, as COCO stores them); one image per split with no annotation
at all, as COCO has (prepare_coco keeps it with no class, as the reference does, so every stage of the
rehearsal meets an image without a class).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

from wsss.io import atomic_path, save_rgb
from wsss.rehearsal.scenes import paint_scene

# COCO's 80 category ids: 1-90 without the 10 ids its label list skips.
CATEGORY_IDS = [i for i in range(1, 91) if i not in (12, 26, 29, 30, 45, 66, 68, 69, 71, 83)]
COCO_SIZES = [(640, 480), (480, 640), (640, 427), (612, 612), (640, 360), (427, 640), (500, 375), (640, 478)]
DEFAULT_COUNTS = {"train": 3, "val": 2}  # annotated images; each split also gets one without annotations
SPLIT_FOLDERS = {"train": "train2014", "val": "val2014"}


def rle_counts(mask: np.ndarray) -> list[int]:
    """Run lengths of ``mask`` in column-major order, starting with a run of zeros (COCO's RLE)."""
    flat = np.asarray(mask, dtype=bool).T.reshape(-1)
    changes = np.flatnonzero(flat[1:] != flat[:-1]) + 1
    bounds = np.concatenate([[0], changes, [flat.size]])
    runs = np.diff(bounds).tolist()
    return [0, *runs] if flat.size and flat[0] else runs


def rle_string(counts: list[int]) -> str:
    """COCO's compressed RLE text: each count (a difference to the one two back, from the third on) in
    5-bit groups, least significant first, 0x20 marking a continuation, offset by 48."""
    text = []
    for index, count in enumerate(counts):
        value = count - counts[index - 2] if index > 2 else count
        more = True
        while more:
            group = value & 0x1F
            value >>= 5
            more = value != -1 if group & 0x10 else value != 0
            text.append(chr((group | (0x20 if more else 0)) + 48))
    return "".join(text)


def _box(mask: np.ndarray) -> list[float]:
    ys, xs = np.nonzero(mask)
    return [float(xs.min()), float(ys.min()), float(xs.max() - xs.min() + 1), float(ys.max() - ys.min() + 1)]


def _annotation(mask: np.ndarray, outline, kind: str) -> dict:
    """One instance's segmentation in the form ``kind`` names: polygon, rle_string or crowd."""
    height, width = mask.shape
    if kind == "polygon":
        segmentation: list | dict = [[round(float(v), 2) for point in outline for v in point]]
    elif kind == "rle_string":
        segmentation = {"size": [height, width], "counts": rle_string(rle_counts(mask))}
    else:
        segmentation = {"size": [height, width], "counts": rle_counts(mask)}
    return {
        "segmentation": segmentation,
        "area": float(mask.sum()),
        "bbox": _box(mask),
        "iscrowd": int(kind == "crowd"),
    }


def write_coco_split(
    root: Path, split: str, count: int, class_names: list[str], rng: np.random.Generator, first_id: int
) -> int:
    """Images and the instances JSON of one split; ``count`` annotated images plus one without annotations."""
    folder = SPLIT_FOLDERS[split]
    (root / folder).mkdir(parents=True, exist_ok=True)
    images, annotations = [], []
    for index in range(count + 1):
        image_id = first_id + 7 * index + int(rng.integers(0, 7))
        width, height = COCO_SIZES[index % len(COCO_SIZES)]
        file_name = f"COCO_{folder}_{image_id:012d}.jpg"
        labels = (
            [] if index == count else [int(c) for c in rng.integers(1, len(class_names) + 1, size=rng.integers(1, 4))]
        )
        scene = paint_scene(rng, height, width, labels)
        save_rgb(root / folder / file_name, scene.rgb, quality=90)
        images.append({"id": image_id, "file_name": file_name, "height": height, "width": width, "license": 1})
        for k, item in enumerate(scene.objects):
            kind = "crowd" if (index, k) == (1, 0) else "rle_string" if (index, k) == (2, 0) else "polygon"
            annotation = _annotation(item.mask, item.outline, kind)
            annotation.update(id=len(annotations) + 1 + first_id * 1000, image_id=image_id)
            annotation["category_id"] = CATEGORY_IDS[item.label - 1]
            annotations.append(annotation)
    categories = [
        {"supercategory": "object", "id": category_id, "name": name}
        for category_id, name in zip(CATEGORY_IDS, class_names)
    ]
    data = {
        "info": {"description": "rehearsal miniature of COCO 2014", "version": "1.0", "year": 2014},
        "licenses": [{"id": 1, "name": "none", "url": ""}],
        "images": images,
        "annotations": annotations,
        "categories": categories,
    }
    with atomic_path(root / "annotations" / f"instances_{folder}.json") as tmp:
        tmp.write_text(json.dumps(data))
    return len(images)


def write_coco(
    output: str | os.PathLike, class_names: list[str], seed: int = 0, counts: dict[str, int] | None = None
) -> dict[str, int]:
    """Write the miniature COCO at ``output``; return the number of images per split (``counts`` annotated
    ones and the one without annotations)."""
    if len(class_names) != len(CATEGORY_IDS):
        raise ValueError(f"COCO has {len(CATEGORY_IDS)} categories, got {len(class_names)} class names")
    counts = {**DEFAULT_COUNTS, **(counts or {})}
    rng = np.random.default_rng(seed)
    return {
        split: write_coco_split(Path(output), split, counts[split], class_names, rng, first_id=9 + 500_000 * offset)
        for offset, split in enumerate(SPLIT_FOLDERS)
    }
