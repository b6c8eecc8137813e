"""Evaluating CAM seeds: the fixed background threshold (the reference's figure), the sweep, and leakage."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from wsss.data.cam_io import load_cam
from wsss.data.images import read_label_map
from wsss.data.voc_dataset import VOCDataset
from wsss.evaluation.label_eval import LeakCounter
from wsss.evaluation.metrics import confusion_matrix, format_table, scores_from_confusion
from wsss.progress import track


def threshold_grid(start: float, stop: float, step: float) -> list[float]:
    """Inclusive, rounded grid such as 0.05, 0.10, ..., 0.95."""
    count = int(round((stop - start) / step)) + 1
    return [round(start + i * step, 4) for i in range(count)]


def power_background_threshold(alpha: float) -> float:
    """The t with (1 - t)^alpha = t: argmax over [(1 - max CAM)^alpha, CAMs], CLIP-ES's seeds, labels a
    pixel background exactly when its maximum CAM is at most t, as :func:`seed_labels` at t does (both
    give ties to the background). Bisection to float precision (1 / 2 for alpha 1)."""
    low, high = 0.0, 1.0
    for _ in range(60):
        middle = (low + high) / 2
        low, high = (middle, high) if (1 - middle) ** alpha > middle else (low, middle)
    return (low + high) / 2


def seed_labels(cam: np.ndarray, keys: np.ndarray, threshold: float) -> np.ndarray:
    """argmax over [background plane at ``threshold``, CAMs] mapped to labels 0..C (ties go to background).

    An image with no class (no maps) is all background."""
    if len(cam) == 0:
        return np.zeros(cam.shape[1:], dtype=np.uint8)
    peak = cam.max(axis=0)
    winner = keys[cam.argmax(axis=0)] + 1
    return np.where(peak > threshold, winner, 0).astype(np.uint8)


def evaluate_seeds(
    dataset: VOCDataset,
    cams: str | os.PathLike,
    thresholds: list[float],
    background_regions: str | os.PathLike | None = None,
    background_of_class: np.ndarray | None = None,
) -> tuple[dict[float, np.ndarray], dict | None]:
    """Confusion matrices per threshold over the split; optionally the leakage onto co-occurring backgrounds.

    Leakage: of the ground-truth background pixels that show class k's characteristic background
    (``background_of_class[k]`` in the region maps) in images containing k, the fraction the seeds
    label as k, at each threshold.
    """
    num_labels = dataset.manifest.num_classes + 1
    confusions = {t: np.zeros((num_labels, num_labels), dtype=np.int64) for t in thresholds}
    leaks = {t: LeakCounter(background_of_class) for t in thresholds} if background_regions is not None else None
    labels = dataset.label_matrix()
    for image_id, row in track(zip(dataset.ids, labels), len(dataset), f"seeds on {dataset.split}"):
        record = load_cam(cams, image_id, expected_keys=np.flatnonzero(row))
        truth = dataset.read_mask(image_id)
        if record.cam.shape[1:] != truth.shape:
            raise ValueError(f"CAM of {image_id!r} is {record.cam.shape[1:]} but its mask is {truth.shape}")
        regions = read_label_map(Path(background_regions) / f"{image_id}.png") if leaks is not None else None
        for t in thresholds:
            prediction = seed_labels(record.cam, record.keys, t)
            confusions[t] += confusion_matrix(prediction, truth, num_labels)
            if leaks is not None:
                leaks[t].add(prediction, truth, regions, record.keys)
    if leaks is None:
        return confusions, None
    names = list(dataset.manifest.class_names)
    return confusions, {t: leak.report(names) for t, leak in leaks.items()}


def seed_report(
    confusions: dict[float, np.ndarray],
    class_names: list[str],
    threshold: float,
    leakage: dict | None = None,
    alphas: tuple[float, ...] = (),
) -> dict:
    """Scores at the fixed ``threshold`` (``at_threshold``), at the sweep's best (``best_of_sweep``) and
    with CLIP-ES's power background for each of ``alphas`` (``power_background``).

    The reference reports its seed mIoU at a fixed background threshold (0.15 on VOC train), so that
    entry is the headline; the sweep's best is chosen on the ground truth and only shown beside it.
    ``class_names`` include the background; ``threshold`` and each alpha's
    :func:`power_background_threshold` must be among the confusions' keys; the sweep is the keys on
    its 4-decimal grid.
    """
    scores = {t: scores_from_confusion(c, class_names) for t, c in confusions.items()}
    fixed = round(threshold, 4)
    by_alpha = {alpha: power_background_threshold(alpha) for alpha in alphas}
    missing = [t for t in (fixed, *by_alpha.values()) if t not in scores]
    if missing:
        raise ValueError(f"background threshold {missing[0]} was not evaluated (evaluated: {sorted(scores)})")
    # The sweep's thresholds sit on its 4-decimal grid; an alpha's own threshold (0.381966... for 2) does not.
    sweep = [t for t in scores if t == round(t, 4)]
    best = max(sweep, key=lambda t: scores[t]["summary"]["mIoU"] or -1)
    report = {
        "at_threshold": {"threshold": fixed, **scores[fixed]},
        "best_of_sweep": {"threshold": best, **scores[best]},
        "sweep": {str(t): scores[t]["summary"]["mIoU"] for t in sorted(sweep)},
        "power_background": [{"alpha": alpha, "threshold": round(t, 4), **scores[t]} for alpha, t in by_alpha.items()],
    }
    if leakage is not None:
        report["cooccurring_background_labelled_as_object"] = {
            "at_threshold": leakage[fixed],
            "best_of_sweep": leakage[best],
        }
    return report


def seed_table(report: dict, title: str) -> str:
    """Text of :func:`seed_report`: a headline line, the fixed threshold's table, then the sweep's best."""
    fixed, best = report["at_threshold"], report["best_of_sweep"]

    def miou(entry: dict) -> str:
        value = entry["summary"]["mIoU"]
        return "-" if value is None else f"{value:.2f}"

    text = (
        f"{title}: mIoU {miou(fixed)} at the background threshold {fixed['threshold']} (eval_cam.bg_threshold, "
        f"the figure to compare with the reference); best of the sweep {miou(best)} at {best['threshold']}\n\n"
    )
    text += format_table(fixed, f"at the background threshold {fixed['threshold']}")
    text += "\n" + format_table(best, f"best of the sweep, background threshold {best['threshold']}")
    for entry in report.get("power_background", []):
        title = f"background (1 - max CAM)^{entry['alpha']:g} (CLIP-ES's; as a threshold {entry['threshold']})"
        text += "\n" + format_table(entry, title)
    leakage = report.get("cooccurring_background_labelled_as_object")
    if leakage is not None:
        text += (
            "\nco-occurring background labelled as the object: "
            f"{leakage['at_threshold']['overall']:.2%} (at the threshold), "
            f"{leakage['best_of_sweep']['overall']:.2%} (best of the sweep)\n"
        )
    return text
