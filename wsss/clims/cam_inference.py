"""Multi-scale, flipped CAM inference, batched over images of the same size."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from wsss.data.training_data import normalize_imagenet
from wsss.device import autocast
from wsss.models.cam_net import CAMNet

# On CPU a forward pass over more input pixels than this is slower per image (bench/bench_make_cam.py).
CPU_PIXELS_PER_FORWARD = 2**21


def forward_pixel_cap(device: torch.device) -> int | None:
    """The cap :func:`multiscale_cams` should use on ``device``: none on CUDA, where batching pays."""
    return None if device.type == "cuda" else CPU_PIXELS_PER_FORWARD


def inference_ready(model: CAMNet, device: torch.device) -> CAMNet:
    """The model on ``device`` in eval mode with channels-last weights: convolutions over
    batches run about 1.5x faster that way on CPU (oneDNN) and use tensor cores on CUDA."""
    return model.to(device, memory_format=torch.channels_last).eval()


@torch.no_grad()
def multiscale_cams(
    model: CAMNet, images01: torch.Tensor, scales: list[float], pixels_per_forward: int | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Sum over scales (each with its horizontal flip) of ReLU CAMs, for (N, 3, H, W) images in [0, 1].

    Returns (full-resolution (N, C, H, W), stride-4 (N, C, ceil(H/4), ceil(W/4))) unnormalised sums.
    Each scale's map is upsampled to ceil(H/os)*os (then cropped to H x W), so that feature cells
    stay aligned with the pixels they cover, as in the reference. ``pixels_per_forward`` caps
    the input pixels of one forward pass (None: the whole batch at once); on CPU large batches
    of large images run slower than small ones (memory traffic), so the stage sets a cap there.
    """
    n, _, height, width = images01.shape
    stride = model.backbone.output_stride
    up_size = (math.ceil(height / stride) * stride, math.ceil(width / stride) * stride)
    s4_size = (math.ceil(height / 4), math.ceil(width / 4))
    full = images01.new_zeros(n, model.num_classes, height, width)
    stride4 = images01.new_zeros(n, model.num_classes, *s4_size)
    x = normalize_imagenet(images01)
    for scale in scales:
        size = (max(1, round(height * scale)), max(1, round(width * scale)))
        scaled = x if scale == 1.0 else F.interpolate(x, size=size, mode="bilinear", align_corners=False)
        batch = torch.cat([scaled, scaled.flip(-1)]).contiguous(memory_format=torch.channels_last)
        chunk = len(batch) if pixels_per_forward is None else max(1, pixels_per_forward // (size[0] * size[1]))
        with autocast(images01.device):
            cams = torch.cat([model.cams(part).float() for part in batch.split(chunk)])
        cams = cams[:n] + cams[n:].flip(-1)
        full += F.interpolate(cams, size=up_size, mode="bilinear", align_corners=False)[:, :, :height, :width]
        stride4 += F.interpolate(cams, size=s4_size, mode="bilinear", align_corners=False)
    return full, stride4


def normalize_positive(cams: torch.Tensor, keys: torch.Tensor) -> torch.Tensor:
    """Keep the positive classes ``keys`` of one image's (C, H, W) maps, each divided by its max (+1e-5)."""
    selected = cams[keys]
    return selected / (selected.flatten(1).amax(dim=1).view(-1, 1, 1) + 1e-5)
