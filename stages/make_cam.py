"""Stage: multi-scale + flip CAM inference for every image of the given splits, one .npz per id."""

import logging
import time

import numpy as np
import torch

from wsss.clims.cam_inference import forward_pixel_cap, inference_ready, multiscale_cams, normalize_positive
from wsss.clims.cam_io import CamRecord, save_cam
from wsss.data.images import batches_by_image_size
from wsss.data.manifest import DatasetManifest
from wsss.data.voc_dataset import VOCDataset
from wsss.device import pick_device, precision_plan
from wsss.io import atomic_directory
from wsss.models.cam_net import CAMNet
from wsss.models.weights import load_checked
from wsss.progress import Progress
from wsss.sharding import shard_members
from wsss.stage import run_stage
from wsss.training import load_model_state

log = logging.getLogger("make_cam")


def make_cam(
    root: str,
    manifest: str,
    checkpoint: str,
    cams: str,
    splits: list,
    scales: tuple[float, ...] = (1.0, 0.5, 1.5, 2.0),
    batch_size: int = 8,
    precision: str = "reference",
    shard: int = 0,
    shards: int = 1,
    threads: int = 1,
) -> None:
    """Write ``cams/<id>.npz`` (positive classes, full-resolution and stride-4 maps) for ``splits``.

    With ``shards`` > 1, only for the ids of shard ``shard`` (:func:`wsss.sharding.shard_members`).
    """
    device = pick_device()
    network_autocast = precision_plan(precision, device).network_autocast
    description = DatasetManifest.load(manifest)
    state = load_model_state(checkpoint)
    meta = state["meta"]
    model = CAMNet(meta["num_classes"], meta["backbone"], meta["output_stride"])
    load_checked(model, state["model"], checkpoint)
    model = inference_ready(model, device)

    datasets = [VOCDataset(root, description, split) for split in dict.fromkeys(splits)]
    items = {}
    for dataset in datasets:
        labels = dataset.label_matrix()
        for image_id, row in zip(dataset.ids, labels):
            items[image_id] = (dataset, np.flatnonzero(row))
    members = shard_members(items, shard, shards)
    items = {image_id: item for image_id, item in items.items() if image_id in members}
    start = time.perf_counter()
    progress = Progress(len(items), "make_cam")
    with atomic_directory(cams) as folder:
        for chunk in batches_by_image_size(
            list(items), lambda image_id: items[image_id][0].image_path(image_id), batch_size
        ):
            images = np.stack([items[i][0].read_image(i) for i in chunk])
            full, stride4 = multiscale_cams(model, images, scales, forward_pixel_cap(device), network_autocast)
            progress.advance(len(chunk))
            for n, image_id in enumerate(chunk):
                keys = torch.from_numpy(items[image_id][1]).to(device)
                record = CamRecord(
                    keys=items[image_id][1],
                    cam=normalize_positive(full[n], keys).cpu().numpy(),
                    cam_stride4=normalize_positive(stride4[n], keys).cpu().numpy(),
                )
                save_cam(folder, image_id, record)
    seconds = time.perf_counter() - start
    log.info(
        "CAMs of %d images (shard %d of %d) at %d scales in %.1f s (%.1f images/s) -> %s",
        len(items),
        shard,
        shards,
        len(scales),
        seconds,
        len(items) / max(seconds, 1e-9),
        cams,
    )


if __name__ == "__main__":
    run_stage(make_cam, globals().get("snakemake"))
