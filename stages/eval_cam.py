"""Stage: evaluate CAM seeds against ground truth (threshold sweep, fixed threshold, leakage)."""

import logging

from wsss.data.manifest import DatasetManifest
from wsss.data.voc_dataset import VOCDataset
from wsss.evaluation.label_eval import cooccurring_background_regions
from wsss.evaluation.metrics import format_table, scores_from_confusion
from wsss.evaluation.seed_eval import evaluate_seeds, threshold_grid
from wsss.io import write_json, write_text
from wsss.stage import run_stage

log = logging.getLogger("eval_cam")


def eval_cam(
    root: str,
    manifest: str,
    cams: str,
    report: str,
    table: str,
    split: str = "train",
    bg_threshold: float = 0.15,
    sweep: list | None = None,
) -> None:
    """Write the seed evaluation of ``split`` as JSON (``report``) and as a text table (``table``)."""
    description = DatasetManifest.load(manifest)
    dataset = VOCDataset(root, description, split)
    thresholds = sorted(set(threshold_grid(*(sweep or [0.05, 0.95, 0.05]))) | {round(bg_threshold, 4)})
    regions, background_of_class = cooccurring_background_regions(root, description.class_names)
    confusions, leakage = evaluate_seeds(dataset, cams, thresholds, regions, background_of_class)
    names = ["background", *description.class_names]
    scores = {t: scores_from_confusion(c, names) for t, c in confusions.items()}
    best = max(thresholds, key=lambda t: scores[t]["summary"]["mIoU"] or -1)
    fixed = round(bg_threshold, 4)
    result = {
        "split": split,
        "images": len(dataset),
        "best_threshold": best,
        "best": scores[best],
        "fixed_threshold": fixed,
        "fixed": scores[fixed],
        "sweep": {str(t): scores[t]["summary"]["mIoU"] for t in thresholds},
    }
    if leakage is not None:
        result["cooccurring_background_labelled_as_object"] = {"best": leakage[best], "fixed": leakage[fixed]}
    write_json(report, result)
    text = format_table(scores[best], f"CAM seeds on {split} ({len(dataset)} images), best background threshold {best}")
    text += "\n" + format_table(scores[fixed], f"CAM seeds on {split}, fixed background threshold {fixed}")
    if leakage is not None:
        text += (
            "\nco-occurring background labelled as the object: "
            f"{leakage[best]['overall']:.2%} (best), {leakage[fixed]['overall']:.2%} (fixed)\n"
        )
    write_text(table, text)
    log.info(
        "seed mIoU %.2f at threshold %s (%.2f at fixed %s)",
        scores[best]["summary"]["mIoU"],
        best,
        scores[fixed]["summary"]["mIoU"],
        fixed,
    )


if __name__ == "__main__":
    run_stage(eval_cam, globals().get("snakemake"))
