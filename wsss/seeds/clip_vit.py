"""Running the image tower of an OpenAI CLIP ViT on images of any size whose sides are multiples of
the patch size, as the training-free seed sources need it: the tokens entering the last block (the
seed sources run that block themselves) and the head-averaged attention of chosen blocks.

OpenAI's module is not modified: its blocks are called piece by piece (``ln_1``, ``attn``,
``ln_2``, ``mlp``). Blocks whose attention is not asked for go through
``nn.MultiheadAttention(need_weights=False)``, which uses the fused scaled-dot-product kernel.
"""

from __future__ import annotations

import math
from collections.abc import Collection
from typing import NamedTuple

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from wsss.models.clip_scorer import CLIP_MEAN, CLIP_STD


def interpolate_positional_embedding(
    embedding: torch.Tensor, grid: tuple[int, int], mode: str = "bilinear", through_fp16: bool = True
) -> torch.Tensor:
    """CLIP's (1 + g*g, D) positional embedding resized to a (rows, columns) patch grid, the class
    token's row kept: ``(1 + rows*columns, D)`` in the embedding's dtype.

    ``mode`` is the interpolation (align_corners False): CLIP-ES resizes bilinearly, MaskCLIP
    bicubically. ``through_fp16`` rounds the result to fp16 as CLIP-ES's ``upsample_pos_emb`` does
    whatever the model's precision (its quirk, on by default; off gives the plain fp32 values).
    """
    first, rest = embedding[:1], embedding[1:]
    side = math.isqrt(rest.shape[0])
    if side * side != rest.shape[0]:
        raise ValueError(f"positional embedding of {embedding.shape[0]} rows is not 1 + a square grid")
    if tuple(grid) != (side, side):
        square = rest.T.reshape(1, -1, side, side)
        rest = F.interpolate(square.float(), size=tuple(grid), mode=mode, align_corners=False)
        rest = rest.reshape(rest.shape[1], -1).T.to(embedding.dtype)
    resized = torch.cat([first, rest], dim=0)
    return resized.half().to(embedding.dtype) if through_fp16 else resized


def resize_to_patch_multiple(images: np.ndarray, patch: int) -> torch.Tensor:
    """CLIP-ES's input: uint8 RGB images (N, H, W, 3) of one size, each resized bicubically by PIL to
    (ceil(H/p)*p, ceil(W/p)*p) (what torchvision's Resize does to a PIL image), scaled to [0, 1] and
    normalised with CLIP's mean and std: float32 (N, 3, H', W')."""
    images = np.asarray(images)
    if images.ndim == 3:
        images = images[None]
    if images.ndim != 4 or images.shape[-1] != 3 or images.dtype != np.uint8:
        raise ValueError(f"expected uint8 RGB images (N, H, W, 3), got {images.dtype} {images.shape}")
    height, width = images.shape[1:3]
    size = (math.ceil(width / patch) * patch, math.ceil(height / patch) * patch)
    resized = np.stack([np.asarray(Image.fromarray(image).resize(size, Image.BICUBIC)) for image in images])
    pixels = torch.from_numpy(resized).permute(0, 3, 1, 2).float().div(255)
    mean = torch.tensor(CLIP_MEAN).view(1, 3, 1, 1)
    std = torch.tensor(CLIP_STD).view(1, 3, 1, 1)
    return pixels.sub(mean).div(std)


def embed(
    visual: torch.nn.Module, pixels: torch.Tensor, interpolation: str = "bilinear", through_fp16: bool = True
) -> torch.Tensor:
    """Patch tokens with the class token and interpolated positional embedding, after ``ln_pre``:
    (1 + h*w, N, D) in the sequence-first layout of OpenAI's blocks."""
    x = visual.conv1(pixels.to(visual.conv1.weight.dtype))
    grid = tuple(x.shape[-2:])
    x = x.flatten(2).transpose(1, 2)
    cls = visual.class_embedding.to(x.dtype).expand(x.shape[0], 1, -1)
    x = torch.cat([cls, x], dim=1)
    position = interpolate_positional_embedding(visual.positional_embedding, grid, interpolation, through_fp16)
    x = x + position.to(x.dtype)
    return visual.ln_pre(x).transpose(0, 1)


def attention(block: torch.nn.Module, y: torch.Tensor, need_weights: bool) -> tuple[torch.Tensor, torch.Tensor | None]:
    """``block``'s attention on its normalised tokens y (L, N, D): the output (L, N, D) and, when
    asked, the head-averaged weights (N, L, L) computed as nn.MultiheadAttention's need_weights=True
    path does (query scaled before the product); without weights, the module's fused kernel."""
    attn = block.attn
    if not need_weights:
        return attn(y, y, y, need_weights=False)[0], None
    length, batch, width = y.shape
    heads = attn.num_heads
    q, k, v = (
        part.reshape(length, batch * heads, width // heads).transpose(0, 1)
        for part in F.linear(y, attn.in_proj_weight, attn.in_proj_bias).chunk(3, dim=-1)
    )
    weights = torch.bmm(q * (width // heads) ** -0.5, k.transpose(1, 2)).softmax(dim=-1)
    out = torch.bmm(weights, v).transpose(0, 1).reshape(length, batch, width)
    out = F.linear(out, attn.out_proj.weight, attn.out_proj.bias)
    return out, weights.view(batch, heads, length, length).mean(dim=1)


def run_block(
    block: torch.nn.Module, x: torch.Tensor, need_weights: bool = False
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """One residual attention block on (L, N, D) tokens: the output tokens and, when asked, the
    head-averaged attention (N, L, L)."""
    out, weights = attention(block, block.ln_1(x), need_weights)
    x = x + out
    return x + block.mlp(block.ln_2(x)), weights


def forward_to_last_block(
    visual: torch.nn.Module,
    pixels: torch.Tensor,
    attention_blocks: Collection[int] = (),
    interpolation: str = "bilinear",
    through_fp16: bool = True,
) -> tuple[torch.Tensor, dict[int, torch.Tensor]]:
    """The tokens entering the last block (L, N, D) and the head-averaged attention (N, L, L) of each
    block index in ``attention_blocks`` (0-based; the last block's index is allowed: its attention is
    computed from the tokens returned). Runs under the caller's grad mode; wrap it in no_grad."""
    blocks = visual.transformer.resblocks
    last = len(blocks) - 1
    x = embed(visual, pixels, interpolation, through_fp16)
    attentions = {}
    for index in range(last):
        x, weights = run_block(blocks[index], x, index in attention_blocks)
        if weights is not None:
            attentions[index] = weights
    if last in attention_blocks:
        attentions[last] = attention(blocks[last], blocks[last].ln_1(x), True)[1]
    return x, attentions


class SeedBatch(NamedTuple):
    """A batch of one size for a seed source: the sizes, each image's keys, the maps to return (empty
    (0, ...) ones until filled) and the indices of the images with at least one class."""

    height: int
    width: int
    quarter: tuple[int, int]
    keys: list[np.ndarray]
    results: list[tuple[np.ndarray, np.ndarray]]
    present: list[int]


def seed_batch(images: np.ndarray, keys: list[np.ndarray]) -> SeedBatch:
    """Check a batch of uint8 images (N, H, W, 3) against its key lists and lay out its results."""
    if len(keys) != len(images):
        raise ValueError(f"{len(images)} images but {len(keys)} key lists")
    height, width = images.shape[1:3]
    quarter = (math.ceil(height / 4), math.ceil(width / 4))
    keys = [np.asarray(k, dtype=np.int64).reshape(-1) for k in keys]
    empty = (np.zeros((0, height, width), np.float32), np.zeros((0, *quarter), np.float32))
    present = [n for n, k in enumerate(keys) if len(k)]
    return SeedBatch(height, width, quarter, keys, [empty] * len(images), present)
