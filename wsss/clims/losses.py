"""The CLIMS losses, one function per equation, computed exactly as the reference does.

Notation: for a positive pair (image n, class k), s(fg_k, t_k) is the cosine similarity
between CLIP's features of P_k * X and of the text "a photo of {class k}."; bg_k is
(1 - P_k) * X; t_b are the co-occurring background prompts. Under several processes
(:mod:`wsss.distributed`) the means and sums run over the whole global batch.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from wsss.distributed import mean_over_processes, sum_over_processes, world_size

CLAMP_MIN, CLAMP_MAX = 1e-4, 0.9999


def multilabel_soft_margin_loss(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Baseline CAM loss: mean over classes of the binary logistic loss."""
    return F.multilabel_soft_margin_loss(logits, labels.float())


def positive_pairs(labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(image index, class index) of every positive label of an (N, C) batch, by tensor indexing."""
    return labels.nonzero(as_tuple=True)


def _pair_mean(values: torch.Tensor) -> torch.Tensor:
    """Mean over the global batch's pairs; a batch without any pair (only images with no class) costs 0,
    not the NaN of an empty mean (several processes already divide by at least one pair)."""
    if values.numel() == 0 and world_size() == 1:
        return values.sum()
    return mean_over_processes(values)


def otm_loss(foreground_class: torch.Tensor) -> torch.Tensor:
    """Object-text matching: OTM = -mean log(clamp(s(fg_k, t_k), 1e-4, 0.9999))."""
    return _pair_mean(-torch.log(foreground_class.clamp(CLAMP_MIN, CLAMP_MAX)))


def btm_loss(background_class: torch.Tensor) -> torch.Tensor:
    """Background-text matching: BTM = -mean log(1 - clamp(s(bg_k, t_k), 1e-4, 0.9999))."""
    return _pair_mean(-torch.log(1 - background_class.clamp(CLAMP_MIN, CLAMP_MAX)))


def cbs_loss(foreground_backgrounds: torch.Tensor, threshold: float) -> torch.Tensor:
    """Co-occurring background suppression: CBS = -sum over (pair, prompt b) of log(1 - s(fg_k, t_b)) * [s > threshold].

    A sum, not a mean, as in the reference; similarities at or below the threshold cost nothing.
    (Above the threshold s < 1 for any real image, so the logarithm is finite.)
    """
    active = foreground_backgrounds > threshold
    if not active.any():
        return foreground_backgrounds.sum() * 0.0
    return sum_over_processes(-torch.log(1 - foreground_backgrounds[active].clamp(max=CLAMP_MAX)).sum())


def area_regularization(probabilities: torch.Tensor) -> torch.Tensor:
    """REG = mean of P over all classes (absent ones included) and pixels."""
    return probabilities.mean()


def clims_loss(
    scores, probabilities: torch.Tensor, *, alpha: float, beta: float, gamma: float, delta: float, cbs_threshold: float
) -> tuple[torch.Tensor, dict[str, float]]:
    """alpha OTM + beta BTM + gamma CBS + delta REG, and each term's value for logging."""
    terms = {
        "otm": otm_loss(scores.foreground_class),
        "btm": btm_loss(scores.background_class),
        "cbs": cbs_loss(scores.foreground_backgrounds, cbs_threshold),
        "reg": area_regularization(probabilities),
    }
    total = alpha * terms["otm"] + beta * terms["btm"] + gamma * terms["cbs"] + delta * terms["reg"]
    return total, {name: float(value.detach()) for name, value in terms.items()}
