"""Stage: pseudo-labels for the segmenter, by IRN random walk (refine: irn) or a CRF over the CAMs (refine: crf)."""

import functools
import logging
import time

import torch

from wsss.data.images import batches_by_image_size, read_rgb
from wsss.data.label_folder import write_folder_readme
from wsss.data.manifest import DatasetManifest
from wsss.device import pick_device
from wsss.io import atomic_directory
from wsss.models.backbone import ResNetBackbone
from wsss.models.irn import EdgeDisplacementNet, edge_maps
from wsss.models.weights import load_checked
from wsss.parallel import map_in_processes
from wsss.progress import Progress
from wsss.refine.cam_to_labels import cam_label_jobs, label_histogram_summary, write_crf_pseudo_labels
from wsss.refine.crf import CRFParams
from wsss.refine.random_walk import write_walked_labels
from wsss.stage import run_stage
from wsss.training import load_model_state

log = logging.getLogger("make_pseudo_labels")
EDGE_CHUNK = 256  # images whose edge maps are held at once before their walks run


def _load_irn(checkpoint: str, device: torch.device) -> EdgeDisplacementNet:
    state = load_model_state(checkpoint)
    model = EdgeDisplacementNet(ResNetBackbone(state["meta"]["backbone"], state["meta"]["output_stride"]))
    load_checked(model, state["model"], checkpoint)
    return model.to(device).eval()


def make_pseudo_labels(
    root: str,
    manifest: str,
    cams: str,
    labels: str,
    splits: list,
    method: str = "irn",
    irn: str | None = None,
    beta: float = 10,
    exp_times: int = 8,
    radius: int = 5,
    path: str = "reference",
    bg_threshold: float = 0.2,
    crf: dict | None = None,
    batch_size: int = 16,
    shard: int = 0,
    shards: int = 1,
    threads: int = 1,
) -> None:
    """Write ``labels/<id>.png`` (0 background, 1..C classes) for every image of ``splits``
    (of shard ``shard`` of ``shards``: :func:`wsss.sharding.shard_members`)."""
    description = DatasetManifest.load(manifest)
    start = time.perf_counter()
    with atomic_directory(labels) as folder:
        jobs = cam_label_jobs(root, description, splits, cams, str(folder), shard, shards)
        progress = Progress(len(jobs), "make_pseudo_labels")
        if method == "crf":
            work = functools.partial(
                write_crf_pseudo_labels, bg_threshold=bg_threshold, params=CRFParams(**(crf or {}))
            )
            histograms = map_in_processes(work, jobs, threads, progress=progress)
            how = f"a dense CRF over the CAMs with a background plane at {bg_threshold}"
        elif method == "irn":
            if not irn:
                raise ValueError("refine.method 'irn' needs the IRN checkpoint (input irn)")
            device = pick_device()
            model = _load_irn(irn, device)
            walk = functools.partial(
                write_walked_labels,
                radius=radius,
                beta=beta,
                exp_times=exp_times,
                bg_threshold=bg_threshold,
                path=path,
            )
            histograms = []
            for first in range(0, len(jobs), EDGE_CHUNK):
                chunk = jobs[first : first + EDGE_CHUNK]
                edges = {}
                for same_size in batches_by_image_size(chunk, lambda job: job.image_path, batch_size):
                    images = (
                        torch.stack([torch.from_numpy(read_rgb(job.image_path)).permute(2, 0, 1) for job in same_size])
                        .float()
                        .div(255)
                    )
                    size = (-(-images.shape[2] // 4), -(-images.shape[3] // 4))
                    for job, edge in zip(same_size, edge_maps(model, images.to(device), size)):
                        edges[job.image_id] = edge if device.type == "cuda" else edge.numpy()
                # On CPU the walks run in worker processes; on CUDA in this one, on the GPU.
                items = [(job, edges[job.image_id]) for job in chunk]
                histograms += map_in_processes(walk, items, threads if device.type == "cpu" else 1, progress=progress)
            how = (
                f"a random walk of 2^{exp_times} steps (beta {beta}, radius {radius}, {path} paths) along IRN's "
                f"boundaries, background plane {bg_threshold}"
            )
        else:
            raise ValueError(f"unknown refine.method {method!r} (irn or crf)")
        write_folder_readme(
            folder,
            f"Pseudo-labels for training the segmenter: CAMs refined by {how}.",
            list(description.class_names),
            unsure=False,
        )
    seconds = time.perf_counter() - start
    log.info(
        "pseudo-labels (%s) of %d images in %.1f s (%.1f images/s) -> %s",
        method,
        len(jobs),
        seconds,
        len(jobs) / max(seconds, 1e-9),
        labels,
    )
    log.info("pixel shares: %s", label_histogram_summary(histograms, list(description.class_names)))


if __name__ == "__main__":
    run_stage(make_pseudo_labels, globals().get("snakemake"))
