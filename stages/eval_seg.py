"""Stage: the segmenter on (a shard of) the evaluation split: single scale, multi-scale, optional CRF (one headline).

Its predictions and counts are gathered into the report by stages/gather_eval_seg.py.
"""

import logging
import time

import numpy as np

from wsss.config import stage_settings
from wsss.data.images import read_label_map
from wsss.data.label_folder import write_folder_readme, write_label_png
from wsss.data.manifest import DatasetManifest
from wsss.data.voc_dataset import VOCDataset
from wsss.device import pick_device
from wsss.evaluation.label_eval import LeakCounter, cooccurring_background_regions
from wsss.evaluation.metrics import confusion_matrix
from wsss.evaluation.segmenter_counts import counts_from, save_counts
from wsss.io import atomic_directory
from wsss.models.segmenter import TEST_CRF, build_model, predict_probabilities, read_segmenter_checkpoint
from wsss.progress import track
from wsss.refine.crf import crf_image, crf_refine_scores
from wsss.sharding import select_shard
from wsss.stage import run_stage

log = logging.getLogger("eval_seg")
HEADLINES = ("single_scale", "multi_scale", "crf")  # in the order of the modes


def eval_seg(
    root: str,
    manifest: str,
    checkpoint: str,
    predictions: str,
    counts: str,
    split: str = "val",
    shard: int = 0,
    shards: int = 1,
    threads: int = 1,
    **eval_seg: object,
) -> None:
    """Predict each test mode and count it against ground truth; keep the ``headline`` mode's label maps.

    The modes are the single-scale test, the multi-scale test (``scales`` fused by ``fusion``,
    with h-flips if ``flip``) and, with ``crf``, the dense CRF over the multi-scale test (on the
    image ``crf_image`` names). Only the
    images of shard ``shard`` of ``shards`` (:func:`wsss.sharding.shard_members`); their confusion
    matrices and leak counts go to ``counts`` (.npz), which gather_eval_seg sums into the report.

    ``eval_seg``: keys of the config's ``eval_seg`` section, defined (with their defaults) by the
    schema alone; keys left out take the schema's defaults.
    """
    settings = stage_settings("eval_seg", eval_seg)
    if settings.headline not in HEADLINES or (settings.headline == "crf" and not settings.crf):
        raise ValueError(
            f"eval_seg.headline must be one of {HEADLINES} (crf only with eval_seg.crf), got {settings.headline!r}"
        )
    device = pick_device()
    description = DatasetManifest.load(manifest)
    dataset = VOCDataset(root, description, split)
    network, state = read_segmenter_checkpoint(checkpoint)
    model = build_model(network, state["model"], device)
    multi = f"scales {settings.scales}{' max' if settings.fusion == 'max' else ''}{' + flip' if settings.flip else ''}"
    modes = ["single scale", multi] + ([f"{multi} + CRF"] if settings.crf else [])
    headline_mode = modes[HEADLINES.index(settings.headline)]
    names = ["background", *description.class_names]
    regions, background_of_class = cooccurring_background_regions(root, description.class_names)
    confusions = {mode: np.zeros((len(names), len(names)), dtype=np.int64) for mode in modes}
    leaks = {mode: LeakCounter(background_of_class) for mode in modes} if regions is not None else None
    rows = select_shard(list(zip(dataset.ids, dataset.label_matrix())), dataset.ids, shard, shards)
    start = time.perf_counter()
    with atomic_directory(predictions) as folder:
        for image_id, row in track(rows, len(rows), f"eval_seg on {split} (shard {shard} of {shards})"):
            rgb = dataset.read_image(image_id)
            truth = dataset.read_mask(image_id)
            probabilities = predict_probabilities(model, rgb, settings.scales, settings.flip, settings.fusion)
            predicted = {
                "single scale": predict_probabilities(model, rgb, [1.0], False).argmax(dim=0).byte().cpu().numpy(),
                multi: probabilities.argmax(dim=0).byte().cpu().numpy(),
            }
            if settings.crf:
                image = crf_image(rgb, settings.crf_image)
                predicted[modes[-1]] = crf_refine_scores(image, probabilities.cpu().numpy(), TEST_CRF)
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
    meta = {
        "split": split,
        "images": len(rows),
        "seconds": seconds,
        "checkpoint": checkpoint,
        "backbone_init": state["meta"].get("pretrained") or "random",
        "headline": headline_mode,
        "modes": modes,
        "title": f"{state['meta']['model']}-{state['meta']['backbone']}",
        "class_names": list(description.class_names),
    }
    save_counts(counts, counts_from(meta, confusions, leaks))
    log.info("predicted %d images (shard %d of %d) in %.1f s -> %s", len(rows), shard, shards, seconds, counts)


if __name__ == "__main__":
    run_stage(eval_seg, globals().get("snakemake"))
