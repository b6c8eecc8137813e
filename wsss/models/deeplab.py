"""DeepLabV2's training and test arithmetic as CLIMS' deeplab-pytorch copy does it, in plain torch.

Kept free of mmseg so the test-time code (eval_seg, predict) shares it without importing mmseg's
registries; :mod:`wsss.models.mmseg_modules` wraps it into mmseg modules for training.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F


def balanced_cross_entropy(logits: torch.Tensor, labels: torch.Tensor, ignore_index: int = 255) -> torch.Tensor:
    """(mean cross-entropy over background pixels + mean over foreground pixels) / 2, as CLIMS' main_v2.

    Means are over the whole batch; ``ignore_index`` pixels count in neither. Where a batch has
    no background (or no foreground) pixel, that mean is 0 here: the reference divides 0 by 0
    and its loss becomes NaN (which then poisons the weights).
    """
    per_pixel = F.cross_entropy(logits.float(), labels, ignore_index=ignore_index, reduction="none")
    background = labels == 0
    foreground = (labels != 0) & (labels != ignore_index)
    return (_masked_mean(per_pixel, background) + _masked_mean(per_pixel, foreground)) / 2


def _masked_mean(values: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    return torch.where(mask, values, 0.0).sum() / mask.sum().clamp(min=1)


def scale_pyramid_logits(
    network: Callable[[torch.Tensor], torch.Tensor], image: torch.Tensor, scales: Sequence[float]
) -> list[torch.Tensor]:
    """The network's logits for the image at each scale, each at its own resolution.

    Rescaling is DeepLab's MSC wrapper's: bilinear by ``scale_factor`` (so the size is floored),
    align_corners False; scale 1.0 is the image itself.
    """
    return [
        network(image if scale == 1 else F.interpolate(image, scale_factor=scale, mode="bilinear", align_corners=False))
        for scale in scales
    ]


def max_fused(logits: Sequence[torch.Tensor]) -> torch.Tensor:
    """Element-wise max of logit maps, each resized (bilinear) to the first one's size (MSC's fusion)."""
    size = logits[0].shape[2:]
    resized = [logits[0]] + [
        F.interpolate(part, size=size, mode="bilinear", align_corners=False) for part in logits[1:]
    ]
    return torch.stack(resized).amax(dim=0)


def labels_at(labels: torch.Tensor, size: Sequence[int]) -> torch.Tensor:
    """(B, H, W) labels resized to ``size`` by nearest neighbour as PIL's NEAREST samples (pixel centres).

    ``labels`` is (B, H, W) or (B, 1, H, W); the reference resizes the labels to each output
    instead of upsampling the logits to the labels.
    """
    labels = labels if labels.dim() == 4 else labels[:, None]
    return F.interpolate(labels.float(), size=tuple(size), mode="nearest-exact")[:, 0].long()


def stepped_poly_factor(step: int, iterations: int, power: float, every: int) -> float:
    """The learning-rate factor of optimiser step ``step`` (0-based) of ``iterations``, as deeplab-pytorch's
    PolynomialLR with ``step_size`` ``every``: (1 - s / iterations) ** power, s the step rounded down to
    a multiple of ``every`` (the rate is updated every ``every`` steps and held in between)."""
    return (1 - (step // every) * every / iterations) ** power
