"""Stage: evaluate the segmenter on the evaluation split: single scale, multi-scale, optional CRF (one the headline)."""

import logging
import time

import numpy as np

from wsss.data.images import read_label_map
from wsss.data.label_folder import write_folder_readme, write_label_png
from wsss.data.manifest import DatasetManifest
from wsss.data.voc_dataset import VOCDataset
from wsss.device import pick_device
from wsss.evaluation.label_eval import LeakCounter, cooccurring_background_regions
from wsss.evaluation.metrics import confusion_matrix, format_table, scores_from_confusion
from wsss.io import atomic_directory, write_json, write_text
from wsss.models.segmenter import TEST_CRF, build_model, predict_probabilities, settings_from_meta
from wsss.progress import track
from wsss.refine.crf import crf_refine_scores
from wsss.stage import run_stage
from wsss.training import load_model_state

log = logging.getLogger("eval_seg")
HEADLINES = ("single_scale", "multi_scale", "crf")  # in the order of the modes


def eval_seg(
    root: str,
    manifest: str,
    checkpoint: str,
    report: str,
    table: str,
    predictions: str,
    split: str = "val",
    scales: tuple[float, ...] = (1.0, 0.5, 0.75),
    fusion: str = "max",
    flip: bool = False,
    crf: bool = True,
    headline: str = "crf",
    threads: int = 1,
) -> None:
    """Score each test mode against ground truth; keep the ``headline`` mode's label maps in ``predictions``.

    The modes are the single-scale test, the multi-scale test (``scales`` fused by ``fusion``,
    with h-flips if ``flip``) and, with ``crf``, the dense CRF over the multi-scale test.
    """
    if headline not in HEADLINES or (headline == "crf" and not crf):
        raise ValueError(f"eval_seg.headline must be one of {HEADLINES} (crf only with eval_seg.crf), got {headline!r}")
    device = pick_device()
    description = DatasetManifest.load(manifest)
    dataset = VOCDataset(root, description, split)
    state = load_model_state(checkpoint)
    model = build_model(settings_from_meta(state["meta"]), state["model"], device)
    multi = f"scales {scales}{' max' if fusion == 'max' else ''}{' + flip' if flip else ''}"
    modes = ["single scale", multi] + ([f"{multi} + CRF"] if crf else [])
    headline_mode = modes[HEADLINES.index(headline)]
    names = ["background", *description.class_names]
    regions, background_of_class = cooccurring_background_regions(root, description.class_names)
    confusions = {mode: np.zeros((len(names), len(names)), dtype=np.int64) for mode in modes}
    leaks = {mode: LeakCounter(background_of_class) for mode in modes} if regions is not None else None
    start = time.perf_counter()
    with atomic_directory(predictions) as folder:
        rows = zip(dataset.ids, dataset.label_matrix())
        for image_id, row in track(rows, len(dataset), f"eval_seg on {split}"):
            rgb = dataset.read_image(image_id)
            truth = dataset.read_mask(image_id)
            probabilities = predict_probabilities(model, rgb, scales, flip, fusion)
            predicted = {
                "single scale": predict_probabilities(model, rgb, [1.0], False).argmax(dim=0).byte().cpu().numpy(),
                multi: probabilities.argmax(dim=0).byte().cpu().numpy(),
            }
            if crf:
                predicted[modes[-1]] = crf_refine_scores(rgb, probabilities.cpu().numpy(), TEST_CRF)
            region_map = read_label_map(regions / f"{image_id}.png") if leaks is not None else None
            for mode, labels in predicted.items():
                confusions[mode] += confusion_matrix(labels, truth, len(names))
                if leaks is not None:
                    leaks[mode].add(labels, truth, region_map, np.flatnonzero(row))
            write_label_png(folder, image_id, predicted[headline_mode])
        write_folder_readme(
            folder, f"Segmenter predictions on {split} ({headline_mode}).", list(description.class_names), unsure=False
        )
    seconds = time.perf_counter() - start
    result = {
        "split": split,
        "images": len(dataset),
        "checkpoint": checkpoint,
        "backbone_init": state["meta"].get("pretrained") or "random",
        "headline": headline_mode,
        "modes": {},
    }
    text = ""
    for mode in modes:
        scores = scores_from_confusion(confusions[mode], names)
        result["modes"][mode] = scores
        text += format_table(
            scores,
            f"{state['meta']['model']}-{state['meta']['backbone']} on {split} ({len(dataset)} images), {mode}"
            + (" [headline]" if mode == headline_mode else ""),
        )
        if leaks is not None:
            leak = leaks[mode].report(list(description.class_names))
            scores["cooccurring_background_labelled_as_object"] = leak
            text += f"co-occurring background labelled as the object: {leak['overall']:.2%}\n"
        text += "\n"
        log.info("%s: mIoU %.2f", mode, scores["summary"]["mIoU"])
    result["seconds"] = round(seconds, 1)
    write_json(report, result)
    write_text(table, text)
    log.info("evaluated %d images in %.1f s -> %s", len(dataset), seconds, report)


if __name__ == "__main__":
    run_stage(eval_seg, globals().get("snakemake"))
