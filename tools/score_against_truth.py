"""Score runs against ground truth they did not read: a folder-mode run against the labels and masks of the
photos it was given, beside the annotated run of the same photos, all measured alike.

    python tools/score_against_truth.py --truth data/demo_world --manifest data_manifest/demo.yaml \\
        --split train --eval-split val results/demo_folder results/demo [--json scores.json] \\
        [--html results/demo_folder/report/against_truth.html]

For each run (its config.yaml says how it was made): the image labels it used (a folder run's from CLIP,
an annotated run's the truth) as precision and recall; the refined source's seeds on ``--split`` at the
run's own background threshold and at the best of its sweep (chosen on the masks: shown, not used); its
pseudo-labels on ``--split``; its segmenter on ``--eval-split``, predicted here with the run's eval_seg
test; and, where CLIP's reward chose its refinement settings, the pseudo-labels each candidate gives on
``--split``: the chosen setting's mIoU beside the one the masks would pick. Images are matched by id: a
folder run's ids are its photos' file stems. ``--html`` writes the same as a report page, with the first
run's gap to the second (folder minus annotated) where two runs are given.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import torch
import yaml

from wsss.data.cam_io import load_cam
from wsss.data.manifest import DatasetManifest
from wsss.data.voc_dataset import VOCDataset
from wsss.device import pick_device
from wsss.evaluation.label_eval import evaluate_label_folder
from wsss.evaluation.metrics import confusion_matrix, scores_from_confusion
from wsss.evaluation.reward import candidate_label_maps, refine_candidates
from wsss.evaluation.seed_eval import seed_labels, threshold_grid
from wsss.models.segmenter import build_model, predict_probabilities, read_segmenter_checkpoint
from wsss.refine.crf import CRFParams
from wsss.report import html_table, write_html_page
from wsss.seeds.image_labels import micro_precision_recall, precision_recall


def used_labels(run: Path, config: dict, truth: VOCDataset) -> np.ndarray:
    """(N, C) labels the run trained on for ``truth``'s ids: its prepared dataset's (folder mode), else the truth's."""
    if config["folder"]["images"] is None:
        return truth.label_matrix()
    prepared = VOCDataset(
        run / "dataset" / "prepared", DatasetManifest.load(run / "dataset" / "manifest.yaml"), "train"
    )
    missing = sorted(set(truth.ids) - set(prepared.ids))
    if missing:
        raise SystemExit(f"{run}: the folder run has no photo with id {missing[0]} (and {len(missing) - 1} more)")
    return np.stack([prepared.class_labels(image_id) for image_id in truth.ids])


def seed_scores(cams: Path, truth: VOCDataset, thresholds: list[float]) -> dict[float, float]:
    """Seed mIoU at each background threshold, from each CAM file's own classes (a folder run's predicted ones)."""
    size = truth.manifest.num_classes + 1
    confusions = {t: np.zeros((size, size), dtype=np.int64) for t in thresholds}
    for image_id in truth.ids:
        record, mask = load_cam(cams, image_id), truth.read_mask(image_id)
        for t in thresholds:
            confusions[t] += confusion_matrix(seed_labels(record.cam, record.keys, t), mask, size)
    names = ["background", *truth.manifest.class_names]
    return {t: scores_from_confusion(c, names)["summary"]["mIoU"] for t, c in confusions.items()}


def segmenter_miou(checkpoint: Path, truth: VOCDataset, test: dict) -> float:
    settings, state = read_segmenter_checkpoint(str(checkpoint))
    model = build_model(settings, state["model"], pick_device())
    size = truth.manifest.num_classes + 1
    confusion = np.zeros((size, size), dtype=np.int64)
    with torch.no_grad():
        for image_id in truth.ids:
            probabilities = predict_probabilities(
                model, truth.read_image(image_id), test["scales"], test["flip"], test["fusion"]
            )
            labels = probabilities.argmax(dim=0).byte().cpu().numpy()
            confusion += confusion_matrix(labels, truth.read_mask(image_id), size)
    return scores_from_confusion(confusion, ["background", *truth.manifest.class_names])["summary"]["mIoU"]


def refine_choice(run: Path, config: dict, truth: VOCDataset) -> dict | None:
    """A run whose refinement settings CLIP's reward chose (settings/refine.json): the pseudo-label mIoU on
    ``truth`` that each candidate gives from the run's own CAMs, the chosen one's and the masks' pick."""
    path = run / "settings" / "refine.json"
    if not path.is_file():
        return None
    chosen = json.loads(path.read_text())
    reward = config["reward"]
    candidates = refine_candidates(
        chosen["background"],
        reward["bg_thresholds"],
        reward["alphas"],
        reward["confidences"] or [config["refine"]["confidence"]],
    )
    size = truth.manifest.num_classes + 1
    confusions = np.zeros((len(candidates), size, size), dtype=np.int64)
    cams, params = run / "cams" / config["seeds"]["refine_from"], CRFParams(**config["crf"])
    for image_id in truth.ids:
        record, mask = load_cam(cams, image_id), truth.read_mask(image_id)
        maps = candidate_label_maps(
            truth.read_image(image_id), record.cam, record.keys, candidates, params, config["refine"]["crf_image"]
        )
        for index, labels in enumerate(maps):
            confusions[index] += confusion_matrix(labels, mask, size)
    names = ["background", *truth.manifest.class_names]
    mious = [scores_from_confusion(c, names)["summary"]["mIoU"] for c in confusions]
    settings = [c.overrides for c in candidates]
    best = int(np.argmax(mious))
    return {
        "chosen": chosen["chosen"],
        "chosen_miou": mious[settings.index(chosen["chosen"])],
        "mask_best": settings[best],
        "mask_best_miou": mious[best],
        "candidates": [
            {**s, "wins": row["wins"], "mIoU": m} for s, row, m in zip(settings, chosen["candidates"], mious)
        ],
    }


def score_run(run: Path, truth_root: str, manifest: DatasetManifest, split: str, eval_split: str) -> dict:
    config = yaml.safe_load((run / "config.yaml").read_text())
    truth = VOCDataset(truth_root, manifest, split)
    used, true = used_labels(run, config, truth), truth.label_matrix()
    labels, overall = precision_recall(used, true), micro_precision_recall(used, true)
    source = config["seeds"]["refine_from"]
    fixed = round(config["eval_cam"]["bg_threshold"], 4)
    sweep = sorted({*threshold_grid(*config["eval_cam"]["sweep"]), fixed})
    seeds = seed_scores(run / "cams" / source, truth, sweep)
    best = max(sweep, key=lambda t: seeds[t])
    pseudo = evaluate_label_folder(truth, run / "pseudo_labels")
    names = ["background", *manifest.class_names]
    return {
        "run": str(run),
        "labels": "CLIP" if config["folder"]["images"] else "annotations",
        "label_precision": overall["precision"],
        "label_recall": overall["recall"],
        "label_precision_per_class": dict(zip(manifest.class_names, labels["precision"].tolist())),
        "label_recall_per_class": dict(zip(manifest.class_names, labels["recall"].tolist())),
        "seed_source": source,
        "seed_threshold": fixed,
        "seed_miou": seeds[fixed],
        "seed_best_threshold": best,
        "seed_best_miou": seeds[best],
        "pseudo_label_miou": scores_from_confusion(pseudo["confusion"], names)["summary"]["mIoU"],
        "pseudo_label_coverage": pseudo["coverage"],
        "segmenter_miou": segmenter_miou(
            run / "models" / "segmenter.pt", VOCDataset(truth_root, manifest, eval_split), config["eval_seg"]
        ),
        "refine_choice": refine_choice(run, config, truth),
    }


def markdown(rows: list[dict], split: str, eval_split: str) -> str:
    lines = [
        f"| run | labels | label precision / recall | seeds on {split} (threshold) | best seeds (threshold) "
        f"| pseudo-labels on {split} (coverage) | segmenter on {eval_split} |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['run']} | {r['labels']} | {r['label_precision']:.3f} / {r['label_recall']:.3f} "
            f"| {r['seed_miou']:.2f} ({r['seed_threshold']:g}) "
            f"| {r['seed_best_miou']:.2f} ({r['seed_best_threshold']:g}) "
            f"| {r['pseudo_label_miou']:.2f} ({r['pseudo_label_coverage']:.1%}) | {r['segmenter_miou']:.2f} |"
        )
    for r in rows:
        choice = r["refine_choice"]
        if choice:
            lines += [
                "",
                f"{r['run']}: refinement settings chosen by CLIP's reward, each candidate's pseudo-labels on {split}",
                "",
                f"| {' | '.join(choice['chosen'])} | reward wins | pseudo-label mIoU |",
                "|---|" + "---|" * (len(choice["chosen"]) + 1),
                *(
                    f"| {' | '.join(f'{row[key]:g}' for key in choice['chosen'])} | {row['wins']} | {row['mIoU']:.2f} |"
                    for row in choice["candidates"]
                ),
                "",
                f"Chosen: {_choice_text(choice)}",
            ]
    return "\n".join(lines)


FIGURES = (  # name, key, decimals
    ("label precision", "label_precision", 3),
    ("label recall", "label_recall", 3),
    ("seeds at the run's threshold, mIoU", "seed_miou", 2),
    ("best seeds of the sweep (picked on the masks), mIoU", "seed_best_miou", 2),
    ("pseudo-labels, mIoU", "pseudo_label_miou", 2),
    ("segmenter, mIoU", "segmenter_miou", 2),
)


def html_page(rows: list[dict], split: str, eval_split: str, truth: str, path: str | Path) -> None:
    """The scores as a report page: one column per run (and the first run's gap to the second, where two
    are given), then each reward-chosen refinement's candidates against the masks."""
    gap = len(rows) == 2
    header = ["figure", *(r["run"] for r in rows), *([f"{rows[0]['run']} − {rows[1]['run']}"] if gap else [])]
    table = []
    for name, key, decimals in FIGURES:
        values = [r[key] for r in rows] + ([rows[0][key] - rows[1][key]] if gap else [])
        table.append([name, *(f"{value:.{decimals}f}" for value in values)])
    tables = [
        html_table(
            f"Against the truth in {truth}: labels, seeds and pseudo-labels on {split}, segmenter on {eval_split}",
            header,
            table,
        )
    ]
    notes = [
        f"{r['run']}: labels from {r['labels']}; seeds of {r['seed_source']} at {r['seed_threshold']:g} (the sweep's "
        f"best at {r['seed_best_threshold']:g}); pseudo-labels cover {r['pseudo_label_coverage']:.1%} of the pixels."
        for r in rows
    ]
    for r in rows:
        choice = r["refine_choice"]
        if choice:
            keys = list(choice["chosen"])
            tables.append(
                html_table(
                    f"{r['run']}: the refinement candidates CLIP's reward judged, their pseudo-labels on {split}",
                    [*keys, "reward wins", "pseudo-label mIoU"],
                    [[*(row[key] for key in keys), row["wins"], row["mIoU"]] for row in choice["candidates"]],
                )
            )
            notes.append(f"{r['run']}: the reward chose {_choice_text(choice)}")
    write_html_page(path, "Scored against the truth the runs did not read", tables, notes)


def _choice_text(choice: dict) -> str:
    """The reward's choice and the masks' pick, each with its pseudo-label mIoU."""
    return (
        f"{_text(choice['chosen'])} ({choice['chosen_miou']:.2f}); the masks would pick "
        f"{_text(choice['mask_best'])} ({choice['mask_best_miou']:.2f})."
    )


def _text(settings: dict) -> str:
    return ", ".join(f"{key} {value:g}" for key, value in settings.items())


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("runs", nargs="+", type=Path, help="results/<run> folders")
    parser.add_argument("--truth", required=True, help="the dataset root holding the true labels and masks")
    parser.add_argument("--manifest", required=True, help="its manifest")
    parser.add_argument("--split", default="train", help="split of the photos the runs labelled and refined")
    parser.add_argument("--eval-split", default="val", help="split the segmenters are scored on")
    parser.add_argument("--json", type=Path, help="also write the scores here")
    parser.add_argument("--html", type=Path, help="also write them as a report page here")
    args = parser.parse_args(argv)
    manifest = DatasetManifest.load(args.manifest)
    rows = [score_run(run, args.truth, manifest, args.split, args.eval_split) for run in args.runs]
    print(markdown(rows, args.split, args.eval_split))
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2) + "\n")
    if args.html:
        html_page(rows, args.split, args.eval_split, args.truth, args.html)


if __name__ == "__main__":
    sys.exit(main())
