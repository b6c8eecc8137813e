"""Tiny random OpenAI CLIPs for the seed tests (seconds on two cores)."""

import torch

from wsss.models.clip_scorer import openai_clip


def tiny_clip(layers: int = 3, seed: int = 0) -> torch.nn.Module:
    """A random ViT CLIP: width 64 (one head), patch 8, ``layers`` blocks, 32-d embeddings; attention
    sharpened (q and k weights x4) as a trained CLIP's is, frozen and in eval mode."""
    torch.manual_seed(seed)
    model = (
        openai_clip()
        .model.CLIP(
            embed_dim=32,
            image_resolution=32,
            vision_layers=layers,
            vision_width=64,
            vision_patch_size=8,
            context_length=16,
            vocab_size=49408,
            transformer_width=64,
            transformer_heads=1,
            transformer_layers=1,
        )
        .eval()
    )
    with torch.no_grad():
        for block in model.visual.transformer.resblocks:
            block.attn.in_proj_weight[:128] *= 4
    for parameter in model.parameters():
        parameter.requires_grad_(False)
    return model


def unit_rows(count: int, seed: int) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    return torch.nn.functional.normalize(torch.randn(count, 32, generator=generator), dim=1)
