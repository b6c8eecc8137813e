"""Multi-scale, flipped CAM inference, batched over images of the same size."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from wsss.cam_net import CAMNet
from wsss.device import autocast
from wsss.training_data import normalize_imagenet


@torch.no_grad()
def multiscale_cams(model: CAMNet, images01: torch.Tensor, scales: list[float]) -> tuple[torch.Tensor, torch.Tensor]:
    """Sum over scales (each with its horizontal flip) of ReLU CAMs, for (N, 3, H, W) images in [0, 1].

    Returns (full-resolution (N, C, H, W), stride-4 (N, C, ceil(H/4), ceil(W/4))) unnormalised sums.
    Each scale's map is upsampled to ceil(H/os)*os (then cropped to H x W), so that feature cells
    stay aligned with the pixels they cover, as in the reference.
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
        with autocast(images01.device):
            cams = model.cams(torch.cat([scaled, scaled.flip(-1)])).float()
        cams = cams[:n] + cams[n:].flip(-1)
        full += F.interpolate(cams, size=up_size, mode="bilinear", align_corners=False)[:, :, :height, :width]
        stride4 += F.interpolate(cams, size=s4_size, mode="bilinear", align_corners=False)
    return full, stride4


def normalize_positive(cams: torch.Tensor, keys: torch.Tensor) -> torch.Tensor:
    """Keep the positive classes ``keys`` of one image's (C, H, W) maps, each divided by its max (+1e-5)."""
    selected = cams[keys]
    return selected / (selected.flatten(1).amax(dim=1).view(-1, 1, 1) + 1e-5)
