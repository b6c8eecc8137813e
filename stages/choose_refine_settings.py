"""Stage: the CRF refinement's background and confidence, chosen without masks by CLIP's reward."""

import functools
import logging
import time

import numpy as np

from wsss.config import stage_settings
from wsss.data.manifest import DatasetManifest
from wsss.data.voc_dataset import VOCDataset, spread_sample
from wsss.device import pick_device
from wsss.evaluation.metrics import confusion_matrix, scores_from_confusion
from wsss.evaluation.reward import best_candidate, candidate_table, job_candidate_maps, mask_wins, refine_candidates
from wsss.io import write_json
from wsss.models.clip_scorer import ClipScorer, load_clip
from wsss.parallel import map_in_processes
from wsss.progress import Progress
from wsss.refine.cam_to_labels import cam_label_jobs
from wsss.refine.crf import CRFParams
from wsss.stage import run_stage

log = logging.getLogger("choose_refine_settings")
CHUNK = 16  # images refined (in worker processes) before CLIP judges them


def choose_refine_settings(
    root: str,
    manifest: str,
    cams: str,
    report: str,
    split: str,
    source: str,
    refine: dict,
    crf: dict,
    clip_model: str,
    clip_download_root: str,
    masks: bool = False,
    clip_weights: str | None = None,
    threads: int = 1,
    **reward: object,
) -> None:
    """Write ``report``: every candidate setting's wins, the chosen one (the most wins) and, with ``masks``
    (a dataset with ground truth), each candidate's mIoU on the sampled images that have a mask.

    ``refine``: the config's refine section (its background and CRF image; its confidence when
    ``reward.confidences`` is empty); ``crf``: the config's crf section; ``source``: the refined seed
    source, whose CLIP (``clip_model``) and prompts judge the masks. ``reward``: the config's section.
    """
    settings = stage_settings("reward", reward)
    description = DatasetManifest.load(manifest)
    candidates = refine_candidates(
        refine["background"],
        settings.bg_thresholds,
        settings.alphas,
        settings.confidences or [refine["confidence"]],
    )
    with_classes = [job for job in cam_label_jobs(root, description, [split], cams, "") if job.keys]
    jobs = spread_sample(with_classes, settings.images)
    if not jobs:
        raise ValueError(f"{root}: split {split} has no image with a class to judge refinement settings on")
    device = pick_device()
    scorer = ClipScorer(
        load_clip(clip_model, device=device, download_root=clip_download_root),
        *description.source_prompts(source),
        input_mode="clip",
    ).to(device)
    truth = VOCDataset(root, description, split) if masks else None
    size = description.num_classes + 1
    confusions = np.zeros((len(candidates), size, size), dtype=np.int64)
    wins = np.zeros(len(candidates), dtype=np.int64)
    pairs, scored = 0, 0
    refine_chunk = functools.partial(
        job_candidate_maps, candidates=candidates, params=CRFParams(**crf), image_kind=refine["crf_image"]
    )
    progress = Progress(len(jobs), "choose_refine_settings")
    start = time.perf_counter()
    for first in range(0, len(jobs), CHUNK):
        chunk = jobs[first : first + CHUNK]
        refined = map_in_processes(refine_chunk, chunk, threads)
        for job, (rgb, keys, maps) in zip(chunk, refined):
            wins += mask_wins(scorer, rgb, maps, keys, settings.softmax_over, settings.batch_size).sum(axis=1)
            pairs += len(keys)
            if truth is not None and truth.mask_path(job.image_id).is_file():
                mask = truth.read_mask(job.image_id)
                for index, labels in enumerate(maps):
                    confusions[index] += confusion_matrix(labels, mask, size)
                scored += 1
            progress.advance()
    chosen = best_candidate(wins)
    names = ["background", *description.class_names]
    mious = (
        {i: scores_from_confusion(c, names)["summary"]["mIoU"] for i, c in enumerate(confusions)} if scored else None
    )
    mask_best = max(mious, key=lambda i: (mious[i], -abs(i - chosen))) if mious else None
    if wins.max() == wins.min():
        log.warning(
            "the reward gave every candidate %d wins: it tells them apart on none of the %d images (the middle one is "
            "taken); a softmax over more texts (reward.softmax_over) or more images may separate them",
            wins.max(),
            len(jobs),
        )
    write_json(
        report,
        {
            "source": source,
            "clip_model": clip_model,
            "split": split,
            "images": len(jobs),
            "pairs": pairs,
            "softmax_over": settings.softmax_over,
            "background": refine["background"],
            "config": {key: refine[key] for key in candidates[0].overrides},
            "candidates": candidate_table(candidates, wins, pairs, mious),
            "chosen": candidates[chosen].overrides,
            "images_with_masks": scored,
            "mask_best": candidates[mask_best].overrides if mask_best is not None else None,
            "seconds": round(time.perf_counter() - start, 1),
        },
    )
    log.info(
        "reward over %d images (%d image-class pairs): chose %s (%d wins)%s",
        len(jobs),
        pairs,
        candidates[chosen].overrides,
        wins[chosen],
        f"; the masks of {scored} images would pick {candidates[mask_best].overrides} (mIoU {mious[mask_best]:.2f} "
        f"against {mious[chosen]:.2f})"
        if mious
        else "",
    )


if __name__ == "__main__":
    run_stage(choose_refine_settings, globals().get("snakemake"))
