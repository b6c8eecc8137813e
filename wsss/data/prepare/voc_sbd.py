"""PASCAL VOC 2012 + SBD: the train_aug split and its ground truth, as the WSSS literature uses them.

train_aug = VOC train + SBD train + SBD val, minus VOC val (10,582 ids on the real data). The
prepared root links the user's devkit folders (nothing of theirs is modified or copied) and
adds ``SegmentationClassAug/`` (VOC masks where VOC has them, SBD's ``cls/*.mat`` converted
elsewhere) and ``ImageSets/Segmentation/{train,val,train_aug}.txt``.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from wsss.data.images import read_label_map
from wsss.data.voc_dataset import read_split_ids
from wsss.data.voc_writer import write_split
from wsss.errors import DatasetError
from wsss.io import atomic_directory, save_label_png

EXPECTED_COUNTS = {"train": 1464, "val": 1449, "train_aug": 10582}
LINKED_DIRS = ("JPEGImages", "Annotations", "SegmentationClass")


def read_sbd_mask(path: str | os.PathLike) -> np.ndarray:
    """The class map of one SBD ``cls/<id>.mat`` file (struct GTcls, field Segmentation) as uint8."""
    from scipy.io import loadmat

    path = Path(path)
    try:
        data = loadmat(path, squeeze_me=True, struct_as_record=False)
        segmentation = np.asarray(data["GTcls"].Segmentation)
    except FileNotFoundError:
        raise DatasetError(f"{path}: SBD mask file is missing") from None
    except (KeyError, AttributeError, ValueError, TypeError, OSError) as exc:
        raise DatasetError(
            f"{path}: not an SBD class mask (expected struct GTcls with a Segmentation field: {exc})"
        ) from None
    if segmentation.ndim != 2 or segmentation.min(initial=0) < 0 or segmentation.max(initial=0) > 255:
        raise DatasetError(
            f"{path}: SBD Segmentation must be a 2-D map of labels 0..255, got shape {segmentation.shape}"
        )
    return segmentation.astype(np.uint8)


def train_aug_ids(voc_root: Path, sbd_root: Path) -> dict[str, list[str]]:
    """The three split id lists from the VOC and SBD split files (order: VOC train, then SBD's new ids)."""
    voc_split_dir = voc_root / "ImageSets" / "Segmentation"
    voc_train = read_split_ids(voc_split_dir / "train.txt")
    voc_val = read_split_ids(voc_split_dir / "val.txt")
    sbd = read_split_ids(sbd_root / "train.txt") + read_split_ids(sbd_root / "val.txt")
    excluded = set(voc_val)
    train_aug = list(dict.fromkeys([*voc_train, *(i for i in sbd if i not in excluded)]))
    overlap = excluded & set(voc_train)
    if overlap:
        raise DatasetError(
            f"{voc_split_dir}: train.txt and val.txt share {len(overlap)} ids, e.g. {sorted(overlap)[:3]}"
        )
    return {"train": voc_train, "val": voc_val, "train_aug": train_aug}


def check_counts(splits: dict[str, list[str]], expected: dict[str, int] | None) -> None:
    """Stop with every mismatch listed when the split sizes are not the ones expected."""
    if not expected:
        return
    wrong = [
        f"{name}: {len(splits[name])} ids, expected {count}"
        for name, count in expected.items()
        if len(splits.get(name, [])) != count
    ]
    if wrong:
        raise DatasetError(
            "VOC/SBD split sizes differ from the expected ones (" + "; ".join(wrong) + "). A partial SBD download or "
            "another devkit version gives this; set voc_sbd.expected_counts to null to accept it."
        )


def prepare_voc_sbd(
    voc_root: str | os.PathLike,
    sbd_root: str | os.PathLike,
    output: str | os.PathLike,
    expected: dict[str, int] | None = EXPECTED_COUNTS,
    convert_sbd_masks: bool = True,
) -> dict:
    """Write the prepared root at ``output``; return a summary (split sizes, where each mask came from).

    With ``convert_sbd_masks`` false only VOC's own masks are written (train and val keep their
    ground truth; the SBD-only ids of train_aug, which training needs no mask for, get none)
    and SBD's ``.mat`` files need not be there. Every problem (missing folders, images,
    annotations or masks; wrong counts) is reported before anything is written.
    """
    voc_root, sbd_root, output = Path(voc_root), Path(sbd_root), Path(output)
    for folder in [voc_root / d for d in LINKED_DIRS] + ([sbd_root / "cls"] if convert_sbd_masks else []):
        if not folder.is_dir():
            raise DatasetError(
                f"{folder}: folder is missing "
                "(voc_root must be VOCdevkit/VOC2012, sbd_root SBD's benchmark_RELEASE/dataset)"
            )
    splits = train_aug_ids(voc_root, sbd_root)
    check_counts(splits, expected)
    every_id = list(dict.fromkeys(splits["train_aug"] + splits["val"]))
    problems = []
    sources = {}
    for image_id in every_id:
        if not (voc_root / "JPEGImages" / f"{image_id}.jpg").is_file():
            problems.append(f"{voc_root / 'JPEGImages' / (image_id + '.jpg')}: image missing")
        if not (voc_root / "Annotations" / f"{image_id}.xml").is_file():
            problems.append(
                f"{voc_root / 'Annotations' / (image_id + '.xml')}: annotation missing "
                "(image-level labels come from it)"
            )
        if (voc_root / "SegmentationClass" / f"{image_id}.png").is_file():
            sources[image_id] = "voc"
        elif not convert_sbd_masks:
            continue
        elif (sbd_root / "cls" / f"{image_id}.mat").is_file():
            sources[image_id] = "sbd"
        else:
            problems.append(f"{image_id}: no mask in {voc_root / 'SegmentationClass'} or {sbd_root / 'cls'}")
    if problems:
        raise DatasetError(
            f"{len(problems)} problem(s) in the VOC/SBD devkits, first ones:\n  " + "\n  ".join(problems[:10])
        )

    with atomic_directory(output) as folder:  # an interrupted run leaves no half-prepared root
        for name in LINKED_DIRS:
            (folder / name).symlink_to((voc_root / name).resolve(), target_is_directory=True)
        masks = folder / "SegmentationClassAug"
        masks.mkdir()
        for image_id, source in sources.items():
            labels = (
                read_label_map(voc_root / "SegmentationClass" / f"{image_id}.png")
                if source == "voc"
                else read_sbd_mask(sbd_root / "cls" / f"{image_id}.mat")
            )
            save_label_png(masks / f"{image_id}.png", labels)
        for name, ids in splits.items():
            write_split(folder / "ImageSets" / "Segmentation" / f"{name}.txt", ids)
    return {
        "splits": {name: len(ids) for name, ids in splits.items()},
        "masks": {
            "from_voc": sum(s == "voc" for s in sources.values()),
            "from_sbd": sum(s == "sbd" for s in sources.values()),
        },
        "voc_root": str(voc_root.resolve()),
        "sbd_root": str(sbd_root.resolve()),
    }
