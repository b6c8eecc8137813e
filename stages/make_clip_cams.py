"""Stage: CAM files of a training-free seed source (CLIP-ES or MaskCLIP) for the given splits, one .npz per id."""

import logging
import time

from wsss.config import stage_settings
from wsss.data.manifest import DatasetManifest
from wsss.data.voc_dataset import images_with_classes
from wsss.device import pick_device
from wsss.io import atomic_directory
from wsss.progress import Progress
from wsss.seeds.clip_cams import clip_autocast, frozen_clip, source_settings, write_clip_cams
from wsss.stage import run_stage

log = logging.getLogger("make_clip_cams")


def make_clip_cams(
    root: str,
    manifest: str,
    cams: str,
    source: str,
    settings: dict,
    splits: list,
    shard: int = 0,
    shards: int = 1,
    threads: int = 1,
    clip_weights: str | None = None,
) -> None:
    """Write ``cams/<id>.npz`` (the image's classes, full-resolution and stride-4 maps) of ``source`` for ``splits``.

    ``settings``: the config's section of the source (``clip_es`` or ``maskclip``), defined (with their
    defaults) by the schema alone. ``clip_weights``: the checkpoint file, when the model is a path
    (the rule's input, so that the rule waits for it); a model name is read from ``settings``.
    """
    section = stage_settings(source, settings)
    device = pick_device()
    model = frozen_clip(section.model, section.download_root, section.precision, device)
    description = DatasetManifest.load(manifest)
    jobs = images_with_classes(root, description, splits, shard, shards)
    start = time.perf_counter()
    with atomic_directory(cams) as folder:
        without_class = write_clip_cams(
            source,
            model,
            description,
            jobs,
            folder,
            source_settings(source, vars(section)),
            section.batch_size,
            Progress(len(jobs), f"make_clip_cams {source}"),
            clip_autocast(section.precision, device),
        )
    seconds = time.perf_counter() - start
    log.info(
        "%s maps of %d images (%d without a class; shard %d of %d) in %.1f s (%.2f images/s) on %s -> %s",
        source,
        len(jobs),
        without_class,
        shard,
        shards,
        seconds,
        len(jobs) / max(seconds, 1e-9),
        device,
        cams,
    )


if __name__ == "__main__":
    run_stage(make_clip_cams, globals().get("snakemake"))
