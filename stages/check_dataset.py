"""Stage: read every split of the dataset once, fail early on bad files, write a summary."""

import logging
import time
from concurrent.futures import ThreadPoolExecutor

from wsss.data.manifest import DatasetManifest
from wsss.data.voc_dataset import VOCDataset
from wsss.io import write_json
from wsss.stage import run_stage

log = logging.getLogger("check_dataset")


def _check_split(dataset: VOCDataset, threads: int) -> dict:
    """Decode every image (and mask, when present) so that broken files surface now, not mid-training."""
    labels = dataset.label_matrix()
    with_masks = dataset.has_masks()

    def check(image_id: str) -> None:
        dataset.read_image(image_id)
        if with_masks:
            dataset.read_mask(image_id)

    with ThreadPoolExecutor(max_workers=threads) as pool:
        list(pool.map(check, dataset.ids))
    counts = labels.sum(axis=0)
    return {
        "images": len(dataset),
        "ground_truth_masks": with_masks,
        "images_per_class": {name: int(c) for name, c in zip(dataset.manifest.class_names, counts)},
        "mean_classes_per_image": round(float(labels.sum(axis=1).mean()), 3),
        "images_without_labels": int((~labels.any(axis=1)).sum()),  # only where the manifest allows them
        "classes_without_images": [n for n, c in zip(dataset.manifest.class_names, counts) if c == 0],
    }


def check_dataset(root: str, manifest: str, summary: str, splits: list, threads: int = 1) -> None:
    """Validate ``splits`` of the VOC-layout dataset at ``root`` and write ``summary`` (JSON)."""
    start = time.perf_counter()
    description = DatasetManifest.load(manifest)
    report = {"dataset": description.name, "root": str(root), "classes": list(description.class_names), "splits": {}}
    for split in dict.fromkeys(splits):  # unique, in order
        dataset = VOCDataset(root, description, split)
        report["splits"][split] = _check_split(dataset, threads)
        log.info("split %s: %d images, labels and files OK", split, len(dataset))
    write_json(summary, report)
    log.info("dataset checked in %.1f s -> %s", time.perf_counter() - start, summary)


if __name__ == "__main__":
    run_stage(check_dataset, globals().get("snakemake"))
