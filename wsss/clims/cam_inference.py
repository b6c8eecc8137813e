"""Multi-scale, flipped CAM inference, batched over images of the same size."""

from __future__ import annotations

import math
import os

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from wsss.data.cam_io import CamRecord, save_cam
from wsss.data.images import batches_by_image_size, pil_rescale
from wsss.data.manifest import DatasetManifest
from wsss.data.training_data import normalize_imagenet
from wsss.data.voc_dataset import VOCDataset
from wsss.device import autocast
from wsss.models.cam_net import CAMNet
from wsss.progress import Progress
from wsss.sharding import shard_members

# On CPU a forward pass over more input pixels than this is slower per image (bench/bench_make_cam.py).
CPU_PIXELS_PER_FORWARD = 2**21


def forward_pixel_cap(device: torch.device) -> int | None:
    """The cap :func:`multiscale_cams` should use on ``device``: none on CUDA, where batching pays."""
    return None if device.type == "cuda" else CPU_PIXELS_PER_FORWARD


def inference_ready(model: CAMNet, device: torch.device) -> CAMNet:
    """The model on ``device`` in eval mode with channels-last weights: convolutions over
    batches run about 1.5x faster that way on CPU (oneDNN) and use tensor cores on CUDA."""
    return model.to(device, memory_format=torch.channels_last).eval()


def scaled_input(
    images: np.ndarray, scale: float, device: torch.device, mean_std: tuple[tuple, tuple] | None = None
) -> torch.Tensor:
    """The normalised (N, 3, h, w) network input of uint8 (N, H, W, 3) ``images`` at ``scale``:
    ImageNet's statistics, or the network's ``mean_std``.

    Each image is resized as uint8 with PIL bicubic, to (round(H * s), round(W * s)), before it
    is normalised, as the reference does; scale 1 keeps the original pixels.
    """
    scaled = np.stack([pil_rescale(image, scale, Image.BICUBIC) for image in images])
    pixels = torch.from_numpy(scaled).to(device).permute(0, 3, 1, 2).float() / 255.0
    if mean_std is None:
        return normalize_imagenet(pixels)
    mean, std = (pixels.new_tensor(values).view(1, 3, 1, 1) for values in mean_std)
    return (pixels - mean) / std


@torch.no_grad()
def multiscale_cams(
    model: CAMNet,
    images: np.ndarray,
    scales: list[float],
    pixels_per_forward: int | None = None,
    autocast_dtype: torch.dtype | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Sum over scales (each with its horizontal flip) of ReLU CAMs, for uint8 (N, H, W, 3) images of one size.

    Returns (full-resolution (N, C, H, W), stride-4 (N, C, ceil(H/4), ceil(W/4))) unnormalised sums
    on the model's device. Each scale's map is upsampled to ceil(H/os)*os (then cropped to H x W),
    so that feature cells stay aligned with the pixels they cover, as in the reference.
    ``pixels_per_forward`` caps the input pixels of one forward pass (None: the whole batch at
    once); on CPU large batches of large images run slower than small ones (memory traffic), so
    the stage sets a cap there. ``autocast_dtype`` (CUDA only) runs the network under autocast;
    None keeps it in fp32, as the reference.
    """
    n, height, width, _ = images.shape
    device = next(model.parameters()).device
    stride = model.backbone.output_stride
    up_size = (math.ceil(height / stride) * stride, math.ceil(width / stride) * stride)
    s4_size = (math.ceil(height / 4), math.ceil(width / 4))
    full = torch.zeros(n, model.num_classes, height, width, device=device)
    stride4 = torch.zeros(n, model.num_classes, *s4_size, device=device)
    for scale in scales:
        scaled = scaled_input(images, scale, device, (model.input_mean, model.input_std))
        batch = torch.cat([scaled, scaled.flip(-1)]).contiguous(memory_format=torch.channels_last)
        chunk = len(batch) if pixels_per_forward is None else max(1, pixels_per_forward // scaled[0, 0].numel())
        with autocast(device, autocast_dtype):
            cams = torch.cat([model.cams(part).float() for part in batch.split(chunk)])
        cams = cams[:n] + cams[n:].flip(-1)
        full += F.interpolate(cams, size=up_size, mode="bilinear", align_corners=False)[:, :, :height, :width]
        stride4 += F.interpolate(cams, size=s4_size, mode="bilinear", align_corners=False)
    return full, stride4


def normalize_positive(cams: torch.Tensor, keys: torch.Tensor) -> torch.Tensor:
    """Keep the positive classes ``keys`` of one image's (C, H, W) maps, each divided by its max (+1e-5)."""
    selected = cams[keys]
    return selected / (selected.flatten(1).amax(dim=1).view(-1, 1, 1) + 1e-5)


def cam_jobs(
    root: str, description: DatasetManifest, splits: list[str], shard: int, shards: int
) -> dict[str, tuple[VOCDataset, np.ndarray]]:
    """Image id -> (its dataset, its positive class indices) for the ids of ``splits`` in shard
    ``shard`` of ``shards`` (:func:`wsss.sharding.shard_members`), each id once."""
    datasets = [VOCDataset(root, description, split) for split in dict.fromkeys(splits)]
    jobs = {}
    for dataset in datasets:
        for image_id, row in zip(dataset.ids, dataset.label_matrix()):
            jobs[image_id] = (dataset, np.flatnonzero(row))
    members = shard_members(jobs, shard, shards)
    return {image_id: job for image_id, job in jobs.items() if image_id in members}


def write_cams(
    model: CAMNet,
    jobs: dict[str, tuple[VOCDataset, np.ndarray]],
    folder: str | os.PathLike,
    *,
    scales: tuple[float, ...],
    batch_size: int,
    device: torch.device,
    network_autocast: torch.dtype | None,
    progress: Progress,
) -> None:
    """Write ``<folder>/<id>.npz`` (positive classes, full-resolution and stride-4 maps) for every
    job, batching images of the same size."""
    for chunk in batches_by_image_size(list(jobs), lambda image_id: jobs[image_id][0].image_path(image_id), batch_size):
        images = np.stack([jobs[i][0].read_image(i) for i in chunk])
        full, stride4 = multiscale_cams(model, images, scales, forward_pixel_cap(device), network_autocast)
        progress.advance(len(chunk))
        for n, image_id in enumerate(chunk):
            keys = torch.from_numpy(jobs[image_id][1]).to(device)
            record = CamRecord(
                keys=jobs[image_id][1],
                cam=normalize_positive(full[n], keys).cpu().numpy(),
                cam_stride4=normalize_positive(stride4[n], keys).cpu().numpy(),
            )
            save_cam(folder, image_id, record)
