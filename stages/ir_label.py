"""Stage: IR labels (confident foreground / background, unsure between) from CAMs by two dense-CRF passes."""

import functools
import logging
import time

from wsss.config import stage_settings
from wsss.data.label_folder import write_folder_readme
from wsss.data.manifest import DatasetManifest
from wsss.io import atomic_directory
from wsss.parallel import map_in_processes
from wsss.progress import Progress
from wsss.refine.cam_to_labels import cam_label_jobs, label_histogram_summary, write_ir_labels
from wsss.refine.crf import CRFParams
from wsss.stage import run_stage

log = logging.getLogger("ir_label")


def ir_label(
    root: str,
    manifest: str,
    cams: str,
    labels: str,
    splits: list,
    crf: dict | None = None,
    shard: int = 0,
    shards: int = 1,
    threads: int = 1,
    **ir_label: object,
) -> None:
    """Write ``labels/<id>.png`` (0 background, 1..C classes, 255 unsure) for every image of ``splits``
    (of shard ``shard`` of ``shards``: :func:`wsss.sharding.shard_members`).

    ``ir_label``: keys of the config's ``ir_label`` section (the two background planes), defined
    (with their defaults) by the schema alone; keys left out take the schema's defaults. ``crf``:
    the config's ``crf`` section (:class:`wsss.refine.crf.CRFParams`).
    """
    settings = stage_settings("ir_label", ir_label)
    description = DatasetManifest.load(manifest)
    params = CRFParams(**(crf or {}))
    start = time.perf_counter()
    with atomic_directory(labels) as folder:
        jobs = cam_label_jobs(root, description, splits, cams, str(folder), shard, shards)
        work = functools.partial(
            write_ir_labels,
            fg_threshold=settings.fg_threshold,
            bg_threshold=settings.bg_threshold,
            params=params,
        )
        histograms = map_in_processes(work, jobs, threads, progress=Progress(len(jobs), "ir_label"))
        write_folder_readme(
            folder,
            "IR labels: CAM seeds refined by a dense CRF at background planes "
            f"{settings.fg_threshold} (confident objects)\nand {settings.bg_threshold} (confident background); "
            "pixels only the second pass calls objects are unsure.",
            list(description.class_names),
            unsure=True,
        )
    seconds = time.perf_counter() - start
    log.info(
        "IR labels of %d images in %.1f s (%.1f images/s, %d workers) -> %s",
        len(jobs),
        seconds,
        len(jobs) / max(seconds, 1e-9),
        threads,
        labels,
    )
    log.info("pixel shares: %s", label_histogram_summary(histograms, list(description.class_names)))


if __name__ == "__main__":
    run_stage(ir_label, globals().get("snakemake"))
