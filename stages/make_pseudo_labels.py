"""Stage: pseudo-labels for the segmenter, by IRN random walk (refine: irn) or a CRF over the CAMs (refine: crf)."""

import functools
import json
import logging
import time
from pathlib import Path

from wsss.config import stage_settings
from wsss.data.label_folder import write_folder_readme
from wsss.data.manifest import DatasetManifest
from wsss.device import pick_device
from wsss.io import atomic_directory
from wsss.models.irn import load_irn, write_irn_pseudo_labels
from wsss.parallel import map_in_processes
from wsss.progress import Progress
from wsss.refine.cam_to_labels import cam_label_jobs, label_histogram_summary, write_crf_pseudo_labels
from wsss.refine.crf import CRFParams
from wsss.stage import run_stage

log = logging.getLogger("make_pseudo_labels")


def make_pseudo_labels(
    root: str,
    manifest: str,
    cams: str,
    labels: str,
    splits: list,
    irn: str | None = None,
    crf: dict | None = None,
    chosen: str | None = None,
    batch_size: int = 16,
    shard: int = 0,
    shards: int = 1,
    threads: int = 1,
    **refine: object,
) -> None:
    """Write ``labels/<id>.png`` (0 background, 1..C classes) for every image of ``splits``
    (of shard ``shard`` of ``shards``: :func:`wsss.sharding.shard_members`).

    ``refine``: keys of the config's ``refine`` section (the method and its settings), defined (with
    their defaults) by the schema alone; keys left out take the schema's defaults. ``irn``: the IRN
    checkpoint (method irn); ``crf``: the config's ``crf`` section (method crf); ``chosen``: the settings
    that choose_refine_settings chose by CLIP's reward (reward.choose), which replace the config's;
    ``batch_size``: images per IRN forward pass.
    """
    overrides = json.loads(Path(chosen).read_text())["chosen"] if chosen else {}
    settings = stage_settings("refine", {**refine, **overrides})
    description = DatasetManifest.load(manifest)
    start = time.perf_counter()
    with atomic_directory(labels) as folder:
        jobs = cam_label_jobs(root, description, splits, cams, str(folder), shard, shards)
        progress = Progress(len(jobs), "make_pseudo_labels")
        if settings.method == "crf":
            work = functools.partial(
                write_crf_pseudo_labels,
                params=CRFParams(**(crf or {})),
                image_kind=settings.crf_image,
                background=settings.background,
                bg_threshold=settings.bg_threshold,
                alpha=settings.alpha,
                confidence=settings.confidence,
            )
            histograms = map_in_processes(work, jobs, threads, progress=progress)
            background = (
                f"a background (1 - max CAM)^{settings.alpha:g}"
                if settings.background == "power"
                else f"a background plane at {settings.bg_threshold}"
            )
            unsure = f"; pixels below {settings.confidence} confidence are 255" if settings.confidence > 0 else ""
            how = f"a dense CRF over the CAMs with {background}{unsure}"
            if overrides:
                how += f" (chosen without masks by CLIP's reward: {chosen})"
        elif settings.method == "irn":
            if not irn:
                raise ValueError("refine.method 'irn' needs the IRN checkpoint (input irn)")
            device = pick_device()
            histograms = write_irn_pseudo_labels(
                load_irn(irn, device),
                jobs,
                device,
                batch_size=batch_size,
                threads=threads,
                progress=progress,
                radius=settings.radius,
                beta=settings.beta,
                exp_times=settings.exp_times,
                bg_threshold=settings.bg_threshold,
                path=settings.path,
            )
            how = (
                f"a random walk of 2^{settings.exp_times} steps (beta {settings.beta}, radius {settings.radius}, "
                f"{settings.path} paths) along IRN's boundaries, background plane {settings.bg_threshold}"
            )
        else:
            raise ValueError(f"unknown refine.method {settings.method!r} (irn or crf)")
        write_folder_readme(
            folder,
            f"Pseudo-labels for training the segmenter: CAMs refined by {how}.",
            list(description.class_names),
            unsure=settings.method == "crf" and settings.confidence > 0,
        )
    seconds = time.perf_counter() - start
    log.info(
        "pseudo-labels (%s) of %d images in %.1f s (%.1f images/s) -> %s",
        settings.method,
        len(jobs),
        seconds,
        len(jobs) / max(seconds, 1e-9),
        labels,
    )
    log.info("pixel shares: %s", label_histogram_summary(histograms, list(description.class_names)))


if __name__ == "__main__":
    run_stage(make_pseudo_labels, globals().get("snakemake"))
