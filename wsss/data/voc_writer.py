"""Writing datasets in PASCAL VOC layout (images, label PNGs, XML annotations, split files)."""

from __future__ import annotations

import os
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np

from wsss.io import atomic_path, write_json

# Beside background-region maps (SegmentationBackground/): what each region value means.
REGIONS_FILE = "regions.json"


def instance_boxes(instance_map: np.ndarray, keep: np.ndarray) -> list[tuple[int, int, int, int, int]]:
    """(instance id, xmin, ymin, xmax, ymax) in VOC's 1-based pixel coordinates, where ``keep``."""
    boxes = []
    for instance in np.unique(instance_map[keep]):
        if instance == 0:
            continue
        ys, xs = np.nonzero((instance_map == instance) & keep)
        boxes.append((int(instance), int(xs.min()) + 1, int(ys.min()) + 1, int(xs.max()) + 1, int(ys.max()) + 1))
    return boxes


def write_annotation(
    path: str | os.PathLike,
    filename: str,
    size: tuple[int, int],
    objects: list[tuple[str, tuple[int, int, int, int]]],
) -> None:
    """Write a VOC XML annotation: ``objects`` are (class name, (xmin, ymin, xmax, ymax))."""
    root = ET.Element("annotation")
    ET.SubElement(root, "filename").text = filename
    size_node = ET.SubElement(root, "size")
    ET.SubElement(size_node, "width").text = str(size[1])
    ET.SubElement(size_node, "height").text = str(size[0])
    ET.SubElement(size_node, "depth").text = "3"
    ET.SubElement(root, "segmented").text = "1"
    for name, (x0, y0, x1, y1) in objects:
        node = ET.SubElement(root, "object")
        ET.SubElement(node, "name").text = name
        ET.SubElement(node, "pose").text = "Unspecified"
        ET.SubElement(node, "truncated").text = "0"
        ET.SubElement(node, "difficult").text = "0"
        box = ET.SubElement(node, "bndbox")
        for key, value in zip(("xmin", "ymin", "xmax", "ymax"), (x0, y0, x1, y1)):
            ET.SubElement(box, key).text = str(value)
    ET.indent(root)
    with atomic_path(path) as tmp:
        ET.ElementTree(root).write(tmp, encoding="utf-8", xml_declaration=False)


def write_split(path: str | os.PathLike, ids: list[str]) -> None:
    """Write a split file, one id per line."""
    with atomic_path(path) as tmp:
        Path(tmp).write_text("".join(f"{i}\n" for i in ids))


def write_background_regions(folder: str | os.PathLike, regions: list[str], cooccurring: dict[str, str]) -> None:
    """Describe a folder of background-region maps: region value i + 1 is ``regions[i]``, and
    ``cooccurring`` names each class's characteristic background (read by the leak evaluation)."""
    write_json(Path(folder) / REGIONS_FILE, {"regions": regions, "cooccurring_background": cooccurring})
