"""A miniature PASCAL VOC 2012 devkit and SBD release, in the layouts the real downloads have.

VOCdevkit/VOC2012: JPEGImages (every id), Annotations (VOC XML with truncated and difficult flags,
person parts), SegmentationClass (palette PNGs with 255 boundaries, for the segmentation ids only),
ImageSets/Segmentation/{train,val}.txt. benchmark_RELEASE/dataset: cls/<id>.mat (struct GTcls with
Segmentation, Boundaries, CategoriesPresent), train.txt, val.txt. SBD's lists overlap VOC's the way
the real ones do: some SBD ids are VOC train ids, one is a VOC val id (which train_aug must drop).
"""

from __future__ import annotations

import os
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
from scipy.io import savemat

from wsss.data.voc_writer import write_split
from wsss.io import atomic_path, save_label_png, save_rgb
from wsss.rehearsal.scenes import Scene, paint_scene, with_void_boundaries

# (width, height) of real VOC 2012 images: the longer side is 500, portraits and odd sizes included.
VOC_SIZES = [(500, 375), (500, 333), (375, 500), (500, 281), (334, 500), (500, 366), (486, 500), (500, 497)]
# How many ids of each kind; train_aug = voc_train + sbd_only (the shared ids are VOC train ids).
DEFAULT_COUNTS = {"voc_train": 3, "voc_val": 2, "sbd_only": 4}


def voc_id(index: int) -> str:
    """Ids shaped like VOC's (year_number), spread over the 2007-2011 years."""
    return f"{2007 + index % 5}_{index:06d}"


def _object_xml(parent: ET.Element, name: str, box: tuple[int, int, int, int], truncated: bool, difficult: bool):
    node = ET.SubElement(parent, "object")
    ET.SubElement(node, "name").text = name
    ET.SubElement(node, "pose").text = "Unspecified"
    ET.SubElement(node, "truncated").text = str(int(truncated))
    ET.SubElement(node, "occluded").text = "0"
    ET.SubElement(node, "difficult").text = str(int(difficult))
    _box_xml(node, box)
    if name == "person":  # VOC's person layout annotations nest named parts inside the object
        part = ET.SubElement(node, "part")
        ET.SubElement(part, "name").text = "head"
        _box_xml(part, box)


def _box_xml(parent: ET.Element, box: tuple[int, int, int, int]) -> None:
    node = ET.SubElement(parent, "bndbox")
    for key, value in zip(("xmin", "ymin", "xmax", "ymax"), box):
        ET.SubElement(node, key).text = str(value)


def write_voc_xml(path: Path, image_id: str, scene: Scene, class_names: list[str], difficult_index: int) -> None:
    """The devkit's annotation: folder, filename, source, size, segmented, then one node per object."""
    height, width = scene.labels.shape
    root = ET.Element("annotation")
    ET.SubElement(root, "folder").text = "VOC2012"
    ET.SubElement(root, "filename").text = f"{image_id}.jpg"
    source = ET.SubElement(root, "source")
    ET.SubElement(source, "database").text = "The VOC2007 Database"
    size = ET.SubElement(root, "size")
    for key, value in (("width", width), ("height", height), ("depth", 3)):
        ET.SubElement(size, key).text = str(value)
    ET.SubElement(root, "segmented").text = "1"
    for k, item in enumerate(scene.objects):
        ys, xs = np.nonzero(item.mask)
        box = (int(xs.min()) + 1, int(ys.min()) + 1, int(xs.max()) + 1, int(ys.max()) + 1)
        _object_xml(root, class_names[item.label - 1], box, item.truncated, k == difficult_index)
    ET.indent(root)
    with atomic_path(path) as tmp:
        ET.ElementTree(root).write(tmp, encoding="utf-8")


def write_sbd_mat(path: Path, labels: np.ndarray, num_classes: int) -> None:
    """SBD's cls/<id>.mat: GTcls.Segmentation (no void band), .Boundaries (a cell per class), .CategoriesPresent."""
    boundaries = np.empty((num_classes, 1), dtype=object)
    for k in range(num_classes):
        boundaries[k, 0] = np.zeros(labels.shape, dtype=bool)
    present = np.array([c for c in np.unique(labels) if c != 0], dtype=np.uint8)
    with atomic_path(path) as tmp, open(tmp, "wb") as handle:
        savemat(
            handle,
            {"GTcls": {"Segmentation": labels, "Boundaries": boundaries, "CategoriesPresent": present}},
            do_compression=True,
        )


def write_voc_sbd(
    output: str | os.PathLike,
    class_names: list[str],
    seed: int = 0,
    counts: dict[str, int] | None = None,
    sizes: list[tuple[int, int]] | None = None,
) -> dict[str, int]:
    """Write ``output``/VOCdevkit/VOC2012 and ``output``/benchmark_RELEASE/dataset; return the split sizes.

    Every class appears in train_aug: objects are dealt round-robin over the classes. Images take
    the (width, height) ``sizes`` in turn, VOC's own by default.
    """
    sizes = sizes or VOC_SIZES
    counts = {**DEFAULT_COUNTS, **(counts or {})}
    voc = Path(output) / "VOCdevkit" / "VOC2012"
    sbd = Path(output) / "benchmark_RELEASE" / "dataset"
    for folder in ("JPEGImages", "Annotations", "SegmentationClass", "ImageSets/Segmentation"):
        (voc / folder).mkdir(parents=True, exist_ok=True)
    (sbd / "cls").mkdir(parents=True, exist_ok=True)
    total = counts["voc_train"] + counts["voc_val"] + counts["sbd_only"]
    ids = [voc_id(k) for k in range(total)]
    voc_train = ids[: counts["voc_train"]]
    voc_val = ids[counts["voc_train"] : counts["voc_train"] + counts["voc_val"]]
    sbd_only = ids[counts["voc_train"] + counts["voc_val"] :]
    rng = np.random.default_rng(seed)
    next_class = 0
    # Classes are dealt over train_aug first, three per image, so that training sees them all.
    for index, image_id in enumerate(voc_train + sbd_only + voc_val):
        width, height = sizes[index % len(sizes)]
        labels = []
        for _ in range(int(rng.integers(1, 4)) if image_id in voc_val else 3):
            labels.append(next_class % len(class_names) + 1)
            next_class += 1
        scene = paint_scene(rng, height, width, labels)
        save_rgb(voc / "JPEGImages" / f"{image_id}.jpg", scene.rgb, quality=90)
        write_voc_xml(voc / "Annotations" / f"{image_id}.xml", image_id, scene, class_names, difficult_index=index % 3)
        if image_id in sbd_only or image_id in voc_train[:2] or image_id in voc_val[:1]:
            write_sbd_mat(sbd / "cls" / f"{image_id}.mat", scene.labels, len(class_names))
        if image_id not in sbd_only:
            save_label_png(voc / "SegmentationClass" / f"{image_id}.png", with_void_boundaries(scene.labels))
    in_sbd = voc_train[:2] + sbd_only
    half = len(in_sbd) // 2
    writes = {
        voc / "ImageSets" / "Segmentation" / "train.txt": voc_train,
        voc / "ImageSets" / "Segmentation" / "val.txt": voc_val,
        sbd / "train.txt": in_sbd[:half] + voc_val[:1],  # SBD train holds a VOC val id, as the real one does
        sbd / "val.txt": in_sbd[half:],
    }
    for path, split_ids in writes.items():
        write_split(path, split_ids)
    return {"train": len(voc_train), "val": len(voc_val), "train_aug": len(voc_train) + len(sbd_only)}
