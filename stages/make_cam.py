"""Stage: multi-scale + flip CAM inference for every image of the given splits, one .npz per id."""

import logging
import time

from wsss.clims.cam_inference import cam_jobs, inference_ready, write_cams
from wsss.config import stage_settings
from wsss.data.manifest import DatasetManifest
from wsss.device import pick_device, precision_plan
from wsss.io import atomic_directory
from wsss.models.cam_net import cam_net_from_state, read_cam_checkpoint
from wsss.progress import Progress
from wsss.stage import run_stage

log = logging.getLogger("make_cam")


def make_cam(
    root: str,
    manifest: str,
    checkpoint: str,
    cams: str,
    splits: list,
    shard: int = 0,
    shards: int = 1,
    threads: int = 1,
    **make_cam: object,
) -> None:
    """Write ``cams/<id>.npz`` (positive classes, full-resolution and stride-4 maps) for ``splits``.

    With ``shards`` > 1, only for the ids of shard ``shard`` (:func:`wsss.sharding.shard_members`).
    ``make_cam``: keys of the config's ``make_cam`` section, defined (with their defaults) by the
    schema alone; keys left out take the schema's defaults.
    """
    settings = stage_settings("make_cam", make_cam)
    device = pick_device()
    model = inference_ready(cam_net_from_state(read_cam_checkpoint(checkpoint), checkpoint), device)
    jobs = cam_jobs(root, DatasetManifest.load(manifest), splits, shard, shards)
    start = time.perf_counter()
    with atomic_directory(cams) as folder:
        write_cams(
            model,
            jobs,
            folder,
            scales=settings.scales,
            batch_size=settings.batch_size,
            device=device,
            network_autocast=precision_plan(settings.precision, device).network_autocast,
            progress=Progress(len(jobs), "make_cam"),
        )
    seconds = time.perf_counter() - start
    log.info(
        "CAMs of %d images (shard %d of %d) at %d scales in %.1f s (%.1f images/s) -> %s",
        len(jobs),
        shard,
        shards,
        len(settings.scales),
        seconds,
        len(jobs) / max(seconds, 1e-9),
        cams,
    )


if __name__ == "__main__":
    run_stage(make_cam, globals().get("snakemake"))
