"""Stage: score a folder of label PNGs (IR labels, pseudo-labels, predictions) against ground truth."""

import logging

from wsss.data.manifest import DatasetManifest
from wsss.data.voc_dataset import VOCDataset
from wsss.evaluation.label_eval import cooccurring_background_regions, evaluate_label_folder
from wsss.evaluation.metrics import format_table, scores_from_confusion
from wsss.io import write_json, write_text
from wsss.stage import run_stage

log = logging.getLogger("eval_labels")


def eval_labels(
    root: str, manifest: str, labels: str, report: str, table: str, splits: list, title: str = "labels"
) -> None:
    """Per split with ground truth: the seed-style table over labelled pixels, coverage and leak."""
    description = DatasetManifest.load(manifest)
    names = ["background", *description.class_names]
    regions, background_of_class = cooccurring_background_regions(root, description.class_names)
    result, text = {}, ""
    for split in dict.fromkeys(splits):
        dataset = VOCDataset(root, description, split)
        if not dataset.has_masks():
            log.info("split %s has no ground-truth masks: not scored", split)
            continue
        evaluation = evaluate_label_folder(dataset, labels, regions, background_of_class)
        scores = scores_from_confusion(evaluation["confusion"], names)
        result[split] = {"images": len(dataset), "coverage": round(evaluation["coverage"], 4), **scores}
        text += format_table(
            scores, f"{title} on {split} ({len(dataset)} images), {evaluation['coverage']:.1%} of pixels labelled"
        )
        if "leak" in evaluation:
            result[split]["cooccurring_background_labelled_as_object"] = evaluation["leak"]
            text += f"co-occurring background labelled as the object: {evaluation['leak']['overall']:.2%}\n"
        text += "\n"
        log.info(
            "%s on %s: mIoU %.2f, coverage %.1f%%",
            title,
            split,
            scores["summary"]["mIoU"],
            100 * evaluation["coverage"],
        )
    if not result:
        raise ValueError(f"none of the splits {splits} has ground-truth masks to score {labels} against")
    write_json(report, result)
    write_text(table, text)


if __name__ == "__main__":
    run_stage(eval_labels, globals().get("snakemake"))
