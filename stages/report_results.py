"""Stage: the report's tables and plots, from what the evaluation and training stages wrote."""

import json
from pathlib import Path

from wsss.report import (
    html_table,
    leak_table,
    plot_threshold_sweeps,
    plot_training_curves,
    scores_side_by_side,
    write_html_page,
)
from wsss.stage import run_stage


def _read(path: str) -> dict:
    return json.loads(Path(path).read_text())


def _training_records(history: dict) -> list[dict]:
    """Epoch records of the CAM and IRN stages; the segmenter's loss curve over iterations."""
    return history.get("epochs") or history.get("curve", [])


NO_MASKS = "The photos have no ground-truth masks (folder mode): {what} not scored."


def report_results(
    dataset_summary: str,
    image_labels: list,
    clip_checks: list,
    refine_settings: list,
    seeds: list,
    label_evaluations: list,
    segmenter: list,
    histories: list,
    dataset_html: str,
    seeds_html: str,
    seed_sweep_png: str,
    labels_html: str,
    segmenter_html: str,
    training_png: str,
) -> None:
    """Write one page or picture per report item; file stems name the models and label folders.

    ``clip_checks``: each seed source's CLIP scored class by class (check_clip_classes). ``image_labels``
    (folder mode: the CLIP labels' summary), ``refine_settings`` (the refinement's settings chosen by
    CLIP's reward, with reward.choose) and ``segmenter`` are lists of at most one file;
    without masks (folder mode) ``seeds``, ``label_evaluations`` and ``segmenter`` are empty and the pages
    say so."""
    summary = _read(dataset_summary)
    rows = [
        [split, info["images"], info["mean_classes_per_image"], ", ".join(info["classes_without_images"]) or "–"]
        for split, info in summary["splits"].items()
    ]
    per_class = [
        [name, *(info["images_per_class"].get(name) for info in summary["splits"].values())]
        for name in summary["classes"]
    ]
    tables = [
        html_table("Splits", ["split", "images", "classes per image", "classes without images"], rows),
        html_table("Images per class", ["class", *summary["splits"]], per_class),
    ]
    notes = []
    for path in image_labels:
        labels = _read(path)
        tables.append(
            html_table(
                "Image labels from CLIP: photos per class",
                ["class", "photos", "threshold"],
                [
                    [name, count, f"{labels['label_thresholds'][name]:.4g}"]
                    for name, count in labels["images_per_class"].items()
                ],
            )
        )
        rule = (
            "each class's threshold cut from CLIP's own scores (folder.label_threshold: split, no masks read)"
            if labels["label_threshold"] == "split"
            else f"the threshold folder.label_threshold {labels['label_threshold']:g}"
        )
        notes.append(
            f"{labels['images']} photos of {labels['folder']} labelled by CLIP {labels['clip_model']}: a class is "
            f"present where its probability reaches {rule}"
            + (", and each photo's most probable class always" if labels["keep_top_class"] else "")
            + f"; {labels['images_without_class']} photos without a class; {labels['skipped']} files left out "
            "(skipped.tsv in the dataset folder)."
        )
    checks = {Path(p).stem: _read(p) for p in clip_checks}
    if checks:
        tables.append(
            html_table(
                "Does CLIP know the classes? AUROC of each seed source's CLIP probability against the image labels",
                ["class", *(f"{source} ({check['clip_model']})" for source, check in checks.items())],
                [
                    [name, *(check["classes"][name]["auroc"] for check in checks.values())]
                    for name in summary["classes"]
                ],
            )
        )
        for source, check in checks.items():
            notes.append(
                f"{source}: {check['images']} images of {check['split']}, labels {check['labels']}; classes under "
                f"AUROC {check['threshold']:g}: {', '.join(check['weak_classes']) or 'none'}."
            )
            notes.extend(check["warnings"])
    write_html_page(dataset_html, f"Dataset {summary['dataset']}", tables, notes)
    reward_tables, reward_notes = _chosen_settings(refine_settings)
    if not seeds:
        _pages_without_masks(seeds_html, seed_sweep_png, labels_html, segmenter_html, reward_tables, reward_notes)
        plot_training_curves({Path(p).stem: _training_records(_read(p)) for p in histories}, training_png)
        return

    reports = {Path(p).stem: _read(p) for p in seeds}
    any_report = next(iter(reports.values()))
    fixed = {f"{name} (threshold {r['at_threshold']['threshold']})": r["at_threshold"] for name, r in reports.items()}
    best = {f"{name} (best, {r['best_of_sweep']['threshold']})": r["best_of_sweep"] for name, r in reports.items()}
    power = {
        f"{name} ((1-max)^{entry['alpha']:g})": entry
        for name, r in reports.items()
        for entry in r.get("power_background", [])
    }
    tables = [
        scores_side_by_side(
            f"CAM seeds of each source on {any_report['split']}: IoU per class (%)", {**fixed, **best, **power}
        ),
    ]
    leaks = {
        f"{name} ({label})": r["cooccurring_background_labelled_as_object"][key]
        for name, r in reports.items()
        if "cooccurring_background_labelled_as_object" in r
        for key, label in (("at_threshold", "fixed"), ("best_of_sweep", "best"))
    }
    if leaks:
        tables.append(leak_table("Co-occurring background labelled as the object (%)", leaks))
    write_html_page(seeds_html, "CAM seeds", tables)
    plot_threshold_sweeps(
        {name: r["sweep"] for name, r in reports.items()},
        {r["at_threshold"]["threshold"] for r in reports.values()},
        seed_sweep_png,
    )

    tables = reward_tables
    for path in label_evaluations:
        for split, scores in _read(path).items():
            caption = (
                f"{Path(path).stem} on {split}: {scores['images']} images, {scores['coverage']:.1%} of pixels labelled"
            )
            tables.append(scores_side_by_side(caption, {Path(path).stem: scores}))
            if "cooccurring_background_labelled_as_object" in scores:
                leak = {Path(path).stem: scores["cooccurring_background_labelled_as_object"]}
                tables.append(
                    leak_table(f"{Path(path).stem} on {split}: co-occurring background as the object (%)", leak)
                )
    write_html_page(labels_html, "Pseudo-labels", tables, reward_notes)

    evaluation = _read(segmenter[0])
    tables = [
        scores_side_by_side(
            f"Segmenter on {evaluation['split']} ({evaluation['images']} images): IoU per class (%) by test mode",
            evaluation["modes"],
        )
    ]
    leaks = {
        mode: scores["cooccurring_background_labelled_as_object"]
        for mode, scores in evaluation["modes"].items()
        if "cooccurring_background_labelled_as_object" in scores
    }
    if leaks:
        tables.append(leak_table("Co-occurring background labelled as the object (%)", leaks))
    write_html_page(segmenter_html, "Segmenter", tables, [f"backbone initialisation: {evaluation['backbone_init']}"])

    plot_training_curves({Path(p).stem: _training_records(_read(p)) for p in histories}, training_png)


def _settings_text(settings: dict) -> str:
    """The refine keys of a candidate (or of a table row, whose other columns are left out) as text."""
    return ", ".join(f"{key} {settings[key]:g}" for key in ("bg_threshold", "alpha", "confidence") if key in settings)


def _chosen_settings(paths: list) -> tuple[list[str], list[str]]:
    """The table of the settings CLIP's reward judged and notes on the one chosen (and, where the judged
    images have masks, the one the masks would pick and the mIoU of each)."""
    tables, notes = [], []
    for path in paths:
        chosen = _read(path)
        keys = list(chosen["chosen"])
        with_masks = chosen["images_with_masks"] > 0
        tables.append(
            html_table(
                f"Refinement settings judged by {chosen['source']}'s CLIP {chosen['clip_model']} on "
                f"{chosen['images']} images of {chosen['split']} ({chosen['pairs']} image-class pairs)",
                [*keys, "wins", "win rate", *(["mIoU on their masks"] if with_masks else [])],
                [
                    [*(row[key] for key in keys), row["wins"], row["win_rate"], *([row["mIoU"]] if with_masks else [])]
                    for row in chosen["candidates"]
                ],
            )
        )
        notes.append(
            f"Chosen without masks (most wins: CLIP's probability of the class higher with its mask kept than "
            f"removed, softmax over {chosen['softmax_over'].replace('_', ' ')}): {_settings_text(chosen['chosen'])}; "
            f"the config's values {_settings_text(chosen['config'])} are not used."
        )
        if with_masks:
            miou = {settings: row["mIoU"] for row in chosen["candidates"] for settings in [_settings_text(row)]}
            notes.append(
                f"The masks of {chosen['images_with_masks']} of these images would pick "
                f"{_settings_text(chosen['mask_best'])} (mIoU {miou[_settings_text(chosen['mask_best'])]}) against "
                f"{miou[_settings_text(chosen['chosen'])]} for the chosen setting: the price of choosing without masks."
            )
    return tables, notes


def _pages_without_masks(
    seeds_html: str,
    seed_sweep_png: str,
    labels_html: str,
    segmenter_html: str,
    reward_tables: list[str],
    reward_notes: list[str],
) -> None:
    write_html_page(seeds_html, "CAM seeds", [], [NO_MASKS.format(what="the seeds are")])
    plot_threshold_sweeps({}, set(), seed_sweep_png)
    write_html_page(
        labels_html, "Pseudo-labels", reward_tables, [NO_MASKS.format(what="the pseudo-labels are"), *reward_notes]
    )
    write_html_page(
        segmenter_html,
        "Segmenter",
        [],
        [NO_MASKS.format(what="the segmenter is"), "Its label maps of every photo are in segmenter_predictions/."],
    )


if __name__ == "__main__":
    run_stage(report_results, globals().get("snakemake"))
