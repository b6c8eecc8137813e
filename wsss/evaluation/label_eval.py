"""Scoring label maps against ground truth: confusion matrices, coverage, co-occurring-background leak."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

from wsss.data.images import read_label_map
from wsss.data.label_folder import read_label_folder_png
from wsss.data.voc_dataset import VOCDataset
from wsss.data.voc_writer import REGIONS_FILE
from wsss.evaluation.metrics import confusion_matrix
from wsss.palette import IGNORE_INDEX
from wsss.progress import track


def cooccurring_background_regions(
    root: str | os.PathLike, class_names: tuple[str, ...]
) -> tuple[Path | None, np.ndarray | None]:
    """The dataset's background-region maps and each class's co-occurring background region value,
    where the dataset has them (``SegmentationBackground/`` with its regions file, as the demo world
    writes); else (None, None): real datasets have no region maps."""
    regions = Path(root) / "SegmentationBackground"
    if not regions.is_dir():
        return None, None
    description_file = regions / REGIONS_FILE
    try:
        description = json.loads(description_file.read_text())
        region_of = {
            name: description["regions"].index(bg) + 1 for name, bg in description["cooccurring_background"].items()
        }
    except FileNotFoundError:
        raise ValueError(
            f"{description_file}: missing; the region maps cannot be read without it (a demo world written before "
            "it existed: rerun its rule, snakemake -R make_demo_world)"
        ) from None
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise ValueError(f"{description_file}: not a background-regions description ({exc})") from None
    if not set(class_names) <= set(region_of):
        return None, None
    return regions, np.array([region_of[name] for name in class_names])


class LeakCounter:
    """Of the ground-truth background pixels showing class k's characteristic background
    (``background_of_class[k]`` in the region maps) in images containing k, how many a
    prediction labels as k."""

    def __init__(self, background_of_class: np.ndarray):
        self.background_of_class = background_of_class
        self.hits = np.zeros(len(background_of_class), dtype=np.int64)
        self.total = np.zeros(len(background_of_class), dtype=np.int64)

    def add(self, prediction: np.ndarray, truth: np.ndarray, regions: np.ndarray, keys: np.ndarray) -> None:
        for k in keys:
            area = (truth == 0) & (regions == self.background_of_class[k])
            self.hits[k] += int((prediction[area] == k + 1).sum())
            self.total[k] += int(area.sum())

    def report(self, class_names: list[str]) -> dict:
        total = self.total
        return {
            "overall": round(float(self.hits.sum() / max(1, total.sum())), 4),
            "per_class": {
                name: round(float(self.hits[k] / total[k]), 4) if total[k] else None
                for k, name in enumerate(class_names)
            },
        }


def evaluate_label_folder(
    dataset: VOCDataset,
    folder: str | os.PathLike,
    background_regions: str | os.PathLike | None = None,
    background_of_class: np.ndarray | None = None,
) -> dict:
    """Confusion matrix of a folder of label PNGs over ``dataset``'s split, on the pixels they label.

    Unsure (255) predictions are left out of the confusion matrix; ``coverage`` is the share of
    ground-truth-valid pixels the folder does label. Optionally the co-occurring-background leak.
    """
    num_labels = dataset.manifest.num_classes + 1
    confusion = np.zeros((num_labels, num_labels), dtype=np.int64)
    labelled = valid = 0
    leak = LeakCounter(background_of_class) if background_regions is not None else None
    rows = zip(dataset.ids, dataset.label_matrix())
    for image_id, row in track(rows, len(dataset), f"labels on {dataset.split}"):
        truth = dataset.read_mask(image_id)
        prediction = read_label_folder_png(folder, image_id, truth.shape)
        known = prediction != IGNORE_INDEX
        scored = np.where(known, truth, IGNORE_INDEX).astype(np.uint8)
        confusion += confusion_matrix(np.where(known, prediction, 0), scored, num_labels)
        valid += int((truth != IGNORE_INDEX).sum())
        labelled += int(((truth != IGNORE_INDEX) & known).sum())
        if leak is not None:
            regions = read_label_map(Path(background_regions) / f"{image_id}.png")
            leak.add(prediction, truth, regions, np.flatnonzero(row))
    result = {"confusion": confusion, "coverage": labelled / max(1, valid)}
    if leak is not None:
        result["leak"] = leak.report(list(dataset.manifest.class_names))
    return result
