"""Segmentation metrics: confusion matrices and the per-class IoU / Acc / Prec table (mmseg style)."""

from __future__ import annotations

import numpy as np

from wsss.palette import IGNORE_INDEX


def confusion_matrix(prediction: np.ndarray, truth: np.ndarray, num_classes: int) -> np.ndarray:
    """(K, K) int64 counts, rows = ground truth, columns = prediction; pixels either side marks ignore (255)
    skipped (a pseudo-label's unsure pixels are scored nowhere, as the segmenter never trains on them)."""
    if prediction.shape != truth.shape:
        raise ValueError(f"prediction {prediction.shape} and ground truth {truth.shape} differ in size")
    valid = (truth != IGNORE_INDEX) & (prediction != IGNORE_INDEX)
    index = truth[valid].astype(np.int64) * num_classes + prediction[valid].astype(np.int64)
    return np.bincount(index, minlength=num_classes * num_classes).reshape(num_classes, num_classes)


def scores_from_confusion(confusion: np.ndarray, class_names: list[str]) -> dict:
    """Per-class IoU, Acc (recall), Prec and the summary aAcc, mIoU, mAcc, mPrec, in percent.

    Classes that appear neither in the ground truth nor in the predictions are reported as None
    and left out of the means.
    """
    confusion = confusion.astype(np.float64)
    true_positive = np.diag(confusion)
    truth_total = confusion.sum(axis=1)
    predicted_total = confusion.sum(axis=0)
    union = truth_total + predicted_total - true_positive
    with np.errstate(divide="ignore", invalid="ignore"):
        iou = np.where(union > 0, true_positive / union, np.nan)
        acc = np.where(truth_total > 0, true_positive / truth_total, np.nan)
        prec = np.where(predicted_total > 0, true_positive / predicted_total, np.nan)

    def percent(value: float) -> float | None:
        return None if np.isnan(value) else round(float(value) * 100, 2)

    per_class = {
        name: {"IoU": percent(iou[k]), "Acc": percent(acc[k]), "Prec": percent(prec[k])}
        for k, name in enumerate(class_names)
    }
    total = confusion.sum()
    summary = {
        "aAcc": percent(true_positive.sum() / total) if total else None,
        "mIoU": percent(np.nanmean(iou)) if np.any(~np.isnan(iou)) else None,
        "mAcc": percent(np.nanmean(acc)) if np.any(~np.isnan(acc)) else None,
        "mPrec": percent(np.nanmean(prec)) if np.any(~np.isnan(prec)) else None,
    }
    return {"per_class": per_class, "summary": summary}


def format_table(scores: dict, title: str = "") -> str:
    """A readable text table of :func:`scores_from_confusion`'s result."""

    def cell(value: float | None) -> str:
        return "   -  " if value is None else f"{value:6.2f}"

    names = list(scores["per_class"])
    width = max(12, *(len(n) for n in names))
    lines = [title] if title else []
    lines.append(f"{'Class':<{width}} |  IoU   |  Acc   |  Prec ")
    lines.append("-" * (width + 28))
    for name in names:
        row = scores["per_class"][name]
        lines.append(f"{name:<{width}} | {cell(row['IoU'])} | {cell(row['Acc'])} | {cell(row['Prec'])}")
    lines.append("-" * (width + 28))
    summary = scores["summary"]
    lines.append("  ".join(f"{key}: {cell(value).strip()}" for key, value in summary.items()))
    return "\n".join(lines) + "\n"
