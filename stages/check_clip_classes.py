"""Stage: how well a seed source's CLIP tells each class apart on the training images, before any training."""

import logging
import time

import numpy as np

from wsss.config import stage_settings
from wsss.data.manifest import DatasetManifest
from wsss.data.voc_dataset import VOCDataset, spread_sample
from wsss.device import pick_device
from wsss.io import write_json
from wsss.models.clip_scorer import ClipScorer, load_clip
from wsss.progress import Progress
from wsss.seeds.class_check import class_auroc, weak_class_warning, weak_classes
from wsss.seeds.image_labels import class_probabilities
from wsss.stage import run_stage

log = logging.getLogger("check_clip_classes")


def check_clip_classes(
    root: str,
    manifest: str,
    report: str,
    source: str,
    clip_model: str,
    clip_download_root: str,
    split: str,
    labels_from_clip: bool = False,
    clip_weights: str | None = None,
    threads: int = 1,
    **clip_check: object,
) -> None:
    """Write ``report``: per class, the AUROC of the CLIP probability that ``source`` relies on (a softmax over
    its class and background prompts) against the image labels of ``split``, on at most ``max_images``
    images spread evenly over the split; each class under ``threshold`` is named in a warning.

    ``labels_from_clip``: the labels are CLIP's own (folder mode), so the AUROC says how clear-cut CLIP's
    calls are, not whether they are right. ``clip_check``: the config's section, defined by the schema alone.
    """
    settings = stage_settings("clip_check", clip_check)
    description = DatasetManifest.load(manifest)
    dataset = VOCDataset(root, description, split)
    rows = spread_sample(range(len(dataset)), settings.max_images)
    ids = [dataset.ids[i] for i in rows]
    labels = dataset.label_matrix()[rows]
    device = pick_device()
    scorer = ClipScorer(
        load_clip(clip_model, device=device, download_root=clip_download_root),
        *description.source_prompts(source),
        input_mode="clip",
    ).to(device)
    start = time.perf_counter()
    probabilities = class_probabilities(
        scorer, dataset.read_image, ids, settings.batch_size, Progress(len(ids), f"check_clip_classes {source}").advance
    )
    auroc = class_auroc(probabilities, labels)
    weak = weak_classes(auroc, description.class_names, settings.threshold)
    warnings = [
        weak_class_warning(name, float(value), settings.threshold, clip_model)
        for name, value in zip(description.class_names, auroc)
        if name in weak
    ]
    for warning in warnings:
        log.warning("%s", warning)
    write_json(
        report,
        {
            "source": source,
            "clip_model": clip_model,
            "split": split,
            "images": len(ids),
            "labels": "CLIP's own (folder mode)" if labels_from_clip else description.labels_from,
            "threshold": settings.threshold,
            "classes": {
                name: {
                    "auroc": None if np.isnan(value) else round(float(value), 4),
                    "images_with": int(count),
                    "mean_probability_with": _mean(probabilities[labels[:, k], k]),
                    "mean_probability_without": _mean(probabilities[~labels[:, k], k]),
                }
                for k, (name, value, count) in enumerate(zip(description.class_names, auroc, labels.sum(axis=0)))
            },
            "weak_classes": weak,
            "warnings": warnings,
            "seconds": time.perf_counter() - start,
        },
    )
    log.info(
        "%s's CLIP %s on %d images of %s: AUROC %s; %s",
        source,
        clip_model,
        len(ids),
        split,
        ", ".join(f"{name} {value:.2f}" for name, value in zip(description.class_names, auroc)),
        f"weak: {', '.join(weak)}" if weak else "no weak class",
    )


def _mean(values: np.ndarray) -> float | None:
    return round(float(values.mean()), 4) if len(values) else None


if __name__ == "__main__":
    run_stage(check_clip_classes, globals().get("snakemake"))
