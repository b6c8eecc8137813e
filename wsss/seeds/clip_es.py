"""CLIP-ES (Lin et al., CVPR 2023): class maps read out of a frozen CLIP ViT with Grad-CAM on the
softmax over the image's classes and background words, refined by class-aware attention (CAA).

The steps are small functions (each tested on a hand-computed case); :func:`clip_es_maps` chains
them for a batch of images of one size. Where CLIP-ES's code has a quirk that moves the numbers
(docs/reference.md lists them), it is followed by default, or is a switch of
:class:`ClipEsSettings` whose default is CLIP-ES's behaviour.

Batching, which the reference does not do: blocks 1..L-1 run once for all images without autograd
(attention weights kept only for the blocks the affinity uses); the last block runs forward once
for all images, and back once per class rank j for all images together (the sum over the images of
their j-th class's probability: images do not interact, so each gets its own gradient), only to
the last block's ln_1 output (no weight gradients); the affinity is normalised once per image
(it does not depend on the class), and the box-masked product for all of an image's classes is one
matrix product, since masking the affinity's columns equals masking the CAM.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
import torch

from wsss.device import autocast
from wsss.seeds.clip_vit import forward_to_last_block, resize_to_patch_multiple, seed_batch

EPSILON = 1e-7  # pytorch_grad_cam's scale_cam_image: (x - min) / (1e-7 + max - min)


@dataclass(frozen=True)
class ClipEsSettings:
    """CLIP-ES's settings; the defaults are its VOC ones (``generate_cams_voc12.py``).

    ``box_threshold``: a box surrounds each contour of the Grad-CAM above this share of its maximum
    (0.7 in ``generate_cams_coco14.py``). ``affinity_layers``: the last blocks whose attention is
    averaged. ``normalise_rounds``: column-then-row normalisations of the affinity.
    ``positional_through_fp16``: round the interpolated positional embedding to fp16 (CLIP-ES's
    ``upsample_pos_emb`` does so even in fp32). ``uint8_boxes``: find the boxes on the map as uint8
    (x255, truncated; threshold ``int(t * max)``) as ``scoremap2bbox`` does; off thresholds the float
    map at ``t * max``. ``clip_box_edges``: clip each box's right and bottom edge to width-1 /
    height-1 (``scoremap2bbox``; the last row and column are then never inside a box). ``renormalise_cam``:
    min-max the Grad-CAM a second time, as pytorch_grad_cam's ``aggregate_multi_layers`` does
    after the per-layer one (a change below 1e-6).
    """

    box_threshold: float = 0.4
    affinity_layers: int = 8
    normalise_rounds: int = 3
    positional_through_fp16: bool = True
    uint8_boxes: bool = True
    clip_box_edges: bool = True
    renormalise_cam: bool = True


def min_max(maps: torch.Tensor) -> torch.Tensor:
    """Each (..., h, w) map shifted to minimum 0 and divided by 1e-7 + its range (scale_cam_image)."""
    flat = maps.flatten(-2)
    shifted = flat - flat.min(dim=-1, keepdim=True).values
    return (shifted / (EPSILON + shifted.max(dim=-1, keepdim=True).values)).view_as(maps)


def gradcam_maps(activations: torch.Tensor, gradients: torch.Tensor) -> torch.Tensor:
    """Grad-CAM (K, h, w) from activations and their gradients (K, D, h, w): channel weight = the
    spatial mean of its gradient, ReLU of the weighted channel sum, min-max normalised."""
    weights = gradients.mean(dim=(2, 3))
    return min_max(torch.relu((weights[:, :, None, None] * activations).sum(dim=1)))


def boxes_from_contours(
    scoremap: np.ndarray, threshold: float, uint8: bool = True, clip_edges: bool = True
) -> np.ndarray:
    """(M, 4) int boxes x0, y0, x1, y1 around every contour (cv2 RETR_TREE, CHAIN_APPROX_SIMPLE) of
    the map above ``threshold`` times its maximum, as CLIP-ES's ``scoremap2bbox`` with
    multi_contour_eval: the map in [0, 1] becomes uint8 (x255, truncated) and the threshold
    ``int(threshold * max)``; x1 = x + width and y1 = y + height, clipped to width-1 / height-1.
    No contour gives the one empty box (0, 0, 0, 0)."""
    height, width = scoremap.shape
    if uint8:
        image = (np.asarray(scoremap, dtype=np.float32) * 255).astype(np.uint8)
        binary = (image > int(threshold * image.max())).astype(np.uint8)
    else:
        binary = (scoremap > threshold * scoremap.max()).astype(np.uint8)
    contours = cv2.findContours(binary * 255, cv2.RETR_TREE, cv2.CHAIN_APPROX_SIMPLE)[-2]
    if not contours:
        return np.zeros((1, 4), dtype=np.int64)
    boxes = []
    for contour in contours:
        x, y, w, h = cv2.boundingRect(contour)
        x1, y1 = x + w, y + h
        if clip_edges:
            x1, y1 = min(x1, width - 1), min(y1, height - 1)
        boxes.append([x, y, x1, y1])
    return np.asarray(boxes, dtype=np.int64)


def box_mask(boxes: np.ndarray, height: int, width: int) -> np.ndarray:
    """(height, width) float32: 1 inside the union of the boxes [y0:y1, x0:x1] (end-exclusive), else 0."""
    mask = np.zeros((height, width), dtype=np.float32)
    for x0, y0, x1, y1 in boxes:
        mask[y0:y1, x0:x1] = 1
    return mask


def normalise_affinity(attention: torch.Tensor, rounds: int = 3) -> torch.Tensor:
    """CAA's affinity from (..., n, n) attention: ``rounds`` times divided by its column sums then by
    its row sums, symmetrised (A + Aᵀ) / 2, then squared (A @ A) once."""
    a = attention
    for _ in range(rounds):
        a = a / a.sum(dim=-2, keepdim=True)
        a = a / a.sum(dim=-1, keepdim=True)
    a = (a + a.transpose(-1, -2)) / 2
    return a @ a


def refine_with_affinity(affinity: torch.Tensor, cams: torch.Tensor, masks: torch.Tensor) -> torch.Tensor:
    """CAA's refined maps (K, h, w): for each class, the affinity (n, n) with the columns outside
    its box mask zeroed, times its CAM. Zeroing column j of A equals zeroing entry j of the CAM, so
    all K classes are one product A @ (mask * CAM)."""
    k, h, w = cams.shape
    masked = (masks * cams).reshape(k, h * w).T
    return (affinity @ masked).T.reshape(k, h, w)


def _image_features(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """The last block on tokens x (L, N, D) whose ln_1 output is y, then CLIP-ES's
    ``forward_last_layer`` head: ln_post, the mean of the patch tokens through proj, unit length (N, E)."""
    visual = model.visual
    block = visual.transformer.resblocks[-1]
    x = x + block.attn(y, y, y, need_weights=False)[0]
    x = x + block.mlp(block.ln_2(x))
    x = visual.ln_post(x.transpose(0, 1))
    features = x[:, 1:].mean(dim=1) @ visual.proj
    return features / features.norm(dim=1, keepdim=True)


def clip_es_maps(
    model: torch.nn.Module,
    images: np.ndarray,
    keys: list[np.ndarray],
    class_features: torch.Tensor,
    background_features: torch.Tensor,
    settings: ClipEsSettings,
    autocast_dtype: torch.dtype | None = None,
) -> list[tuple[np.ndarray, np.ndarray]]:
    """CLIP-ES's refined maps for uint8 RGB images (N, H, W, 3) of one size.

    ``keys[n]``: image n's present class indices into ``class_features`` (C, D) (may be empty);
    ``background_features`` (B, D): the background words. Returns per image (full-resolution maps
    (K, H, W), stride-4 maps (K, ceil(H/4), ceil(W/4))), float32 in [0, 1], in the order of its
    keys: CLIP-ES's ``attn_highres`` (before its fp16 cast), i.e. the refined grid map min-max
    normalised and resized bilinearly by cv2 to each size. An image without classes gets (0, ...) maps.
    """
    images = np.asarray(images)
    height, width, quarter, keys, results, present = seed_batch(images, keys)
    if not present:
        return results
    visual, device, patch = model.visual, model.visual.conv1.weight.device, model.visual.conv1.kernel_size[0]
    layers = len(visual.transformer.resblocks)
    pixels = resize_to_patch_multiple(images[present], patch).to(device)
    rows, columns = pixels.shape[-2] // patch, pixels.shape[-1] // patch
    affinity_blocks = range(max(layers - settings.affinity_layers, 0), layers)
    with torch.no_grad(), autocast(device, autocast_dtype):
        tokens, attentions = forward_to_last_block(
            visual, pixels, affinity_blocks, "bilinear", settings.positional_through_fp16
        )
        attention = torch.stack([attentions[i] for i in affinity_blocks]).mean(dim=0)
    affinity = normalise_affinity(attention[:, 1:, 1:].float(), settings.normalise_rounds)

    # The last block once per image; then one backward per class rank j, of the sum over the images
    # of their j-th class's probability (images do not interact, so each gets its own gradient),
    # to ln_1's output only (the Grad-CAM layer; no weight gradients).
    classes, background = class_features.to(device), background_features.to(device)
    with torch.enable_grad(), autocast(device, autocast_dtype):
        block = visual.transformer.resblocks[-1]
        normalised = block.ln_1(tokens).detach().requires_grad_()
        features = _image_features(model, tokens, normalised)
        probabilities = []
        for i, n in enumerate(present):
            text = torch.cat([classes[keys[n]], background])
            text = text / text.norm(dim=1, keepdim=True)
            logits = model.logit_scale.exp() * features[i : i + 1] @ text.to(features.dtype).T
            probabilities.append(logits.softmax(dim=-1)[0])
        ranks = max(len(keys[n]) for n in present)
        gradients = []
        for j in range(ranks):
            target = sum(p[j] for i, p in enumerate(probabilities) if len(keys[present[i]]) > j)
            gradients.append(torch.autograd.grad(target, normalised, retain_graph=j < ranks - 1)[0])
    owner = [i for i, n in enumerate(present) for _ in keys[n]]
    rank = [j for n in present for j in range(len(keys[n]))]
    activations = normalised.detach()[:, owner]
    gradients = torch.stack([gradients[j][:, i] for i, j in zip(owner, rank)], dim=1)

    def as_maps(t: torch.Tensor) -> torch.Tensor:  # (1 + h*w, P, D) -> (P, D, h, w), the CLS token dropped
        return t[1:].float().permute(1, 2, 0).reshape(t.shape[1], t.shape[2], rows, columns)

    cams = gradcam_maps(as_maps(activations), as_maps(gradients))
    if settings.renormalise_cam:
        cams = min_max(cams)
    cams_np = cams.cpu().numpy()
    masks = np.stack(
        [
            box_mask(
                boxes_from_contours(cam, settings.box_threshold, settings.uint8_boxes, settings.clip_box_edges),
                rows,
                columns,
            )
            for cam in cams_np
        ]
    )
    masks = torch.from_numpy(masks).to(cams.device)
    start = 0
    for i, n in enumerate(present):
        count = len(keys[n])
        refined = refine_with_affinity(affinity[i], cams[start : start + count], masks[start : start + count])
        start += count
        grid = min_max(refined).cpu().numpy()
        full = np.stack([cv2.resize(m, (width, height)) for m in grid])
        small = np.stack([cv2.resize(m, quarter[::-1]) for m in grid])
        results[n] = (full.astype(np.float32), small.astype(np.float32))
    return results
