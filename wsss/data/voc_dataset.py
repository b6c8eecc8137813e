"""One reader for any dataset in PASCAL VOC layout, described by a :class:`DatasetManifest`."""

from __future__ import annotations

import os
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from pathlib import Path
from typing import TypeVar

import numpy as np

from wsss.data.images import image_size, read_label_map, read_rgb
from wsss.data.manifest import DatasetManifest
from wsss.errors import DatasetError
from wsss.palette import IGNORE_INDEX
from wsss.sharding import shard_members

T = TypeVar("T")


def read_split_ids(path: Path) -> list[str]:
    """Read a split file: one id per line, blank lines skipped; rejects duplicates, path tricks and ids
    with whitespace (the project's, VOC's ImageSets/Segmentation and SBD's split files hold one column,
    so a second token is an id with a space, not a column to skip)."""
    try:
        lines = path.read_text().splitlines()
    except FileNotFoundError:
        raise DatasetError(f"{path}: split file is missing") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise DatasetError(f"{path}: cannot read split file ({exc})") from None
    ids: list[str] = []
    first_line: dict[str, int] = {}
    for number, line in enumerate(lines, start=1):
        image_id = line.strip()
        if not image_id:
            continue
        if len(image_id.split()) > 1:
            raise DatasetError(
                f"{path}:{number}: image id {image_id!r} holds whitespace: one id per line, without spaces "
                "(rename the image and its files)"
            )
        if "/" in image_id or "\\" in image_id or ".." in image_id or image_id.startswith("."):
            raise DatasetError(f"{path}:{number}: image id {image_id!r} must not contain path separators or '..'")
        if image_id in first_line:
            raise DatasetError(
                f"{path}:{number}: duplicate image id {image_id!r} (first on line {first_line[image_id]})"
            )
        first_line[image_id] = number
        ids.append(image_id)
    if not ids:
        raise DatasetError(f"{path}: split file lists no image ids")
    return ids


class VOCDataset:
    """Image ids of one split with their images, optional ground-truth masks and class labels.

    Labels are multi-hot over the manifest's classes (background excluded), read from VOC XML
    annotations or from the masks, as the manifest says. Every error names the file at fault.
    """

    def __init__(self, root: str | os.PathLike, manifest: DatasetManifest, split: str):
        self.root = Path(root)
        self.manifest = manifest
        self.split = split
        if not self.root.is_dir():
            raise DatasetError(f"{self.root}: dataset root folder does not exist")
        self.ids = read_split_ids(self.root / manifest.split_dir / f"{split}.txt")
        missing = [i for i in self.ids if not self.image_path(i).is_file()]
        if missing:
            shown = ", ".join(str(self.image_path(i)) for i in missing[:3])
            raise DatasetError(f"{len(missing)} image file(s) of split '{split}' are missing: {shown}")
        self._class_index = {name: k for k, name in enumerate(manifest.class_names)}
        self._labels: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.ids)

    def image_path(self, image_id: str) -> Path:
        return self.root / self.manifest.image_dir / f"{image_id}{self.manifest.image_suffix}"

    def mask_path(self, image_id: str) -> Path:
        return self.root / self.manifest.mask_dir / f"{image_id}.png"

    def annotation_path(self, image_id: str) -> Path:
        return self.root / self.manifest.annotation_dir / f"{image_id}.xml"

    def has_masks(self) -> bool:
        """True when every id of the split has a ground-truth mask (needed for evaluation)."""
        return all(self.mask_path(i).is_file() for i in self.ids)

    def read_image(self, image_id: str) -> np.ndarray:
        """The image as (H, W, 3) uint8 RGB."""
        return read_rgb(self.image_path(image_id))

    def read_mask(self, image_id: str) -> np.ndarray:
        """The ground-truth label map (0 background, 1..C classes, 255 ignore), size-checked."""
        path = self.mask_path(image_id)
        mask = read_label_map(path)
        expected = image_size(self.image_path(image_id))
        if mask.shape != expected:
            turned = " (images are read turned by their EXIF orientation)" if mask.shape == expected[::-1] else ""
            raise DatasetError(
                f"{path}: mask is {mask.shape[1]}x{mask.shape[0]} but its image is {expected[1]}x{expected[0]}{turned}"
            )
        invalid = (mask > self.manifest.num_classes) & (mask != IGNORE_INDEX)
        if invalid.any():
            raise DatasetError(
                f"{path}: label value {int(mask[invalid].max())} is not a class of the manifest "
                f"(0..{self.manifest.num_classes} or {IGNORE_INDEX})"
            )
        return mask

    def _labels_from_annotation(self, image_id: str) -> np.ndarray:
        path = self.annotation_path(image_id)
        try:
            tree = ET.parse(path)
        except FileNotFoundError:
            raise DatasetError(f"{path}: annotation file is missing") from None
        except ET.ParseError as exc:
            raise DatasetError(f"{path}: not valid XML ({exc})") from None
        labels = np.zeros(self.manifest.num_classes, dtype=bool)
        for node in tree.getroot().iter("object"):
            name = (node.findtext("name") or "").strip()
            if name not in self._class_index:
                known = ", ".join(self.manifest.class_names)
                raise DatasetError(f"{path}: unknown class name {name!r} (manifest classes: {known})")
            labels[self._class_index[name]] = True
        return labels

    def _labels_from_mask(self, image_id: str) -> np.ndarray:
        present = np.unique(self.read_mask(image_id))
        present = present[(present != 0) & (present != IGNORE_INDEX)]
        labels = np.zeros(self.manifest.num_classes, dtype=bool)
        labels[present.astype(np.int64) - 1] = True
        return labels

    def class_labels(self, image_id: str) -> np.ndarray:
        """Multi-hot (C,) bool vector of the classes in the image."""
        if self.manifest.labels_from == "annotations":
            return self._labels_from_annotation(image_id)
        return self._labels_from_mask(image_id)

    def label_matrix(self) -> np.ndarray:
        """(N, C) bool labels of the whole split, read once and cached; rejects unlabelled images
        unless the manifest allows them (``allow_unlabelled_images``: COCO)."""
        if self._labels is None:
            labels = np.stack([self.class_labels(i) for i in self.ids])
            empty = [i for i, row in zip(self.ids, labels) if not row.any()]
            if empty and not self.manifest.allow_unlabelled_images:
                source = (
                    self.manifest.annotation_dir
                    if self.manifest.labels_from == "annotations"
                    else self.manifest.mask_dir
                )
                raise DatasetError(
                    f"{len(empty)} image(s) of split '{self.split}' have no class label in {source}/, "
                    f"e.g. {empty[0]}: the manifest {self.manifest.name!r} requires at least one class per image "
                    "(allow_unlabelled_images: false)"
                )
            self._labels = labels
        return self._labels


def images_with_classes(
    root: str, manifest: DatasetManifest, splits: list[str], shard: int = 0, shards: int = 1
) -> dict[str, tuple[str, tuple[int, ...]]]:
    """id -> (image path, 0-based classes) of every image of ``splits``, each id once (VOC's train is in
    train_aug), in split order: what the per-image stages iterate over; only those of shard ``shard`` of
    ``shards`` (:func:`wsss.sharding.shard_members`)."""
    images: dict[str, tuple[str, tuple[int, ...]]] = {}
    for split in dict.fromkeys(splits):
        dataset = VOCDataset(root, manifest, split)
        for image_id, row in zip(dataset.ids, dataset.label_matrix()):
            images.setdefault(image_id, (str(dataset.image_path(image_id)), tuple(int(k) for k in np.flatnonzero(row))))
    members = shard_members(images, shard, shards)
    return {image_id: image for image_id, image in images.items() if image_id in members}


def spread_sample(items: Sequence[T], at_most: int) -> list[T]:
    """At most ``at_most`` of ``items``, evenly spread from the first to the last (all when fewer): the
    sample the checks and the reward judge, the same on every run."""
    if len(items) <= at_most:
        return list(items)
    return [items[i] for i in np.unique(np.linspace(0, len(items) - 1, at_most).round().astype(int))]
