"""MaskCLIP (Zhou et al., ECCV 2022): dense class maps from a frozen CLIP ViT without training, read
from the last block's value path and scored against text features.

What MaskCLIP's code computes (``mmseg/models/backbones/vit.py`` with ``return_qkv``, and
``decode_heads/maskclip_head.py``), on OpenAI's blocks:

- the last block's ``ln_1`` tokens through the attention's input projection, split into q, k, v,
  and each through ``out_proj`` (k too: key smoothing uses this k); v then takes the residual
  (the block's input) and the MLP with its residual (``v += x; v = ffn(norm2(v), identity=v)``),
  then ``ln_post`` (its ``final_norm``) and ``proj``: one feature per patch;
- cosine of each patch feature with every category's unit text feature;
- prompt denoising (``pd_thresh`` 0.5): a category whose softmax(100 x cosine) over the categories
  stays below the threshold at every patch gets the score -100 everywhere;
- key smoothing (``ks_thresh`` 1.0): the scores become softmax(100 x score); at patches whose top
  probability is below the threshold they are replaced by K Kᵀ times them, K the patch keys
  L2-normalised along the patch axis (``F.normalize``'s default dim 1 of the (N, hw, D) keys; its
  comment says "L2 distance", i.e. per patch: ``keys_unit_over_patches=False``).

The categories are all classes then all background words (MaskCLIP's head scores every category of
the dataset); ``score_all_classes=False`` keeps only the image's own classes and the background words,
as CLIP-ES does. The input is CLIP-ES's (:func:`resize_to_patch_multiple`), not MaskCLIP's
VOC pipeline (short side 512, ImageNet mean and std, zero padding to the patch size); the positional
embedding is resized bicubically as MaskCLIP does.

Making the maps comparable (MaskCLIP outputs per-category scores, argmax-ed by its segmentor):
without key smoothing the scores become softmax(100 x score) over the categories, the step key
smoothing starts with; each present class's plane is then resized bilinearly (align_corners False, as
mmseg's resize) to the image and to the stride-4 size and min-max normalised (1e-7 in the range)
there. The softmax makes a class's map relative to the competing words (the background ones
included), and the min-max gives each class a peak of 1 as CLIP-ES's maps have, so that the same
background rule, (1 - max)^alpha, turns either source's maps into seeds.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from wsss.device import autocast
from wsss.seeds.clip_es import min_max
from wsss.seeds.clip_vit import forward_to_last_block, resize_to_patch_multiple, seed_batch


@dataclass(frozen=True)
class MaskClipSettings:
    """MaskCLIP's refinements and their constants (its MaskCLIP+ ``kspd`` configs: ks_thresh 1.0,
    pd_thresh 0.5; the plain VOC config leaves both off); see the module's docstring for the switches."""

    key_smoothing: bool = True
    prompt_denoising: bool = True
    key_smoothing_threshold: float = 1.0
    denoising_threshold: float = 0.5
    temperature: float = 100.0
    keys_unit_over_patches: bool = True
    score_all_classes: bool = True
    positional_interpolation: str = "bicubic"


def value_path(model: torch.nn.Module, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """MaskCLIP's dense features from the tokens x (L, N, D) entering the last block: the patch
    features (N, hw, E) (value path, residual, MLP, ln_post, proj) and the patch keys (N, hw, D)
    (after out_proj, as MaskCLIP's backbone returns them)."""
    visual = model.visual
    block = visual.transformer.resblocks[-1]
    y = block.ln_1(x)
    _, k, v = F.linear(y, block.attn.in_proj_weight, block.attn.in_proj_bias).chunk(3, dim=-1)
    k = F.linear(k, block.attn.out_proj.weight, block.attn.out_proj.bias)
    v = x + F.linear(v, block.attn.out_proj.weight, block.attn.out_proj.bias)
    v = v + block.mlp(block.ln_2(v))
    features = visual.ln_post(v.transpose(0, 1)[:, 1:]) @ visual.proj
    return features, k.transpose(0, 1)[:, 1:]


def denoise_prompts(scores: torch.Tensor, threshold: float, temperature: float = 100.0) -> torch.Tensor:
    """Scores (N, hw, C) with every category whose softmax(temperature x score) over the categories is
    below ``threshold`` at all patches set to -100 (MaskCLIP's prompt denoising)."""
    confidence = (scores * temperature).softmax(dim=-1).amax(dim=1, keepdim=True)
    return scores.masked_fill(confidence < threshold, -100.0)


def smooth_with_keys(
    probabilities: torch.Tensor, keys: torch.Tensor, threshold: float, unit_over_patches: bool = True
) -> torch.Tensor:
    """MaskCLIP's key smoothing of probabilities (N, hw, C) with patch keys (N, hw, D): at patches
    whose top probability is below ``threshold``, K Kᵀ P, K the keys L2-normalised along the patch
    axis (MaskCLIP's code) or per patch (``unit_over_patches=False``)."""
    keys = F.normalize(keys, p=2, dim=1 if unit_over_patches else 2)
    smoothed = keys @ keys.transpose(1, 2) @ probabilities
    unsure = probabilities.amax(dim=-1, keepdim=True) < threshold
    return torch.where(unsure, smoothed, probabilities)


def maskclip_maps(
    model: torch.nn.Module,
    images: np.ndarray,
    keys: list[np.ndarray],
    class_features: torch.Tensor,
    background_features: torch.Tensor,
    settings: MaskClipSettings,
    autocast_dtype: torch.dtype | None = None,
) -> list[tuple[np.ndarray, np.ndarray]]:
    """MaskCLIP's maps for uint8 RGB images (N, H, W, 3) of one size, with the contract of
    :func:`wsss.seeds.clip_es.clip_es_maps`: per image (maps (K, H, W), stride-4 maps
    (K, ceil(H/4), ceil(W/4))), float32 in [0, 1], in the order of ``keys[n]``; (0, ...) maps for an
    image without classes. How the scores become [0, 1] maps: the module's docstring."""
    images = np.asarray(images)
    height, width, quarter, keys, results, present = seed_batch(images, keys)
    if not present:
        return results
    visual, device, patch = model.visual, model.visual.conv1.weight.device, model.visual.conv1.kernel_size[0]
    pixels = resize_to_patch_multiple(images[present], patch).to(device)
    rows, columns = pixels.shape[-2] // patch, pixels.shape[-1] // patch
    with torch.no_grad(), autocast(device, autocast_dtype):
        tokens, _ = forward_to_last_block(visual, pixels, (), settings.positional_interpolation, through_fp16=False)
        features, patch_keys = value_path(model, tokens)
    features = F.normalize(features.float(), dim=-1)
    patch_keys = patch_keys.float()
    classes, background = class_features.to(device).float(), background_features.to(device).float()
    for i, n in enumerate(present):
        text = torch.cat([classes if settings.score_all_classes else classes[keys[n]], background])
        scores = features[i : i + 1] @ text.T
        if settings.prompt_denoising:
            scores = denoise_prompts(scores, settings.denoising_threshold, settings.temperature)
        probabilities = (scores * settings.temperature).softmax(dim=-1)
        if settings.key_smoothing:
            probabilities = smooth_with_keys(
                probabilities, patch_keys[i : i + 1], settings.key_smoothing_threshold, settings.keys_unit_over_patches
            )
        chosen = torch.as_tensor(keys[n], device=device) if settings.score_all_classes else torch.arange(len(keys[n]))
        planes = probabilities[0][:, chosen.to(device)].T.reshape(len(keys[n]), 1, rows, columns)
        results[n] = tuple(
            min_max(F.interpolate(planes, size=size, mode="bilinear", align_corners=False)[:, 0]).cpu().numpy()
            for size in ((height, width), quarter)
        )
    return results
