"""Stage: evaluate CAM seeds against ground truth (fixed threshold first, then the sweep's best, leakage)."""

import logging

from wsss.config import stage_settings
from wsss.data.manifest import DatasetManifest
from wsss.data.voc_dataset import VOCDataset
from wsss.evaluation.label_eval import cooccurring_background_regions
from wsss.evaluation.seed_eval import (
    evaluate_seeds,
    power_background_threshold,
    seed_report,
    seed_table,
    threshold_grid,
)
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
    source: str = "clims",
    **eval_cam: object,
) -> None:
    """Write the seed evaluation of ``split`` as JSON (``report``) and text (``table``), headed by ``bg_threshold``.

    ``source``: the seed source whose CAMs these are (named in the report). ``eval_cam``: keys of the
    config's ``eval_cam`` section, defined (with their defaults) by the schema alone; keys left out
    take the schema's defaults.
    """
    settings = stage_settings("eval_cam", eval_cam)
    description = DatasetManifest.load(manifest)
    dataset = VOCDataset(root, description, split)
    thresholds = sorted(
        set(threshold_grid(*settings.sweep))
        | {round(settings.bg_threshold, 4)}
        | {power_background_threshold(alpha) for alpha in settings.alphas}
    )
    regions, background_of_class = cooccurring_background_regions(root, description.class_names)
    confusions, leakage = evaluate_seeds(dataset, cams, thresholds, regions, background_of_class)
    report_data = {
        "source": source,
        "split": split,
        "images": len(dataset),
        **seed_report(
            confusions, ["background", *description.class_names], settings.bg_threshold, leakage, tuple(settings.alphas)
        ),
    }
    write_json(report, report_data)
    write_text(table, seed_table(report_data, f"{source} seeds on {split} ({len(dataset)} images)"))
    fixed, best = report_data["at_threshold"], report_data["best_of_sweep"]
    log.info(
        "seed mIoU %s at the background threshold %s (best of the sweep %s at %s)",
        fixed["summary"]["mIoU"],
        fixed["threshold"],
        best["summary"]["mIoU"],
        best["threshold"],
    )


if __name__ == "__main__":
    run_stage(eval_cam, globals().get("snakemake"))
