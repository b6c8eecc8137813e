"""Tiny random OpenAI CLIPs for the seed tests (seconds on two cores), and a stand-in CLIP that sees colours."""

import numpy as np
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


class ColourClip(torch.nn.Module):
    """A stand-in CLIP: an image's feature is its mean (normalised) colour; prompt k's is the unit vector k."""

    context_length = 77

    def __init__(self):
        super().__init__()
        self.visual = torch.nn.Module()
        self.visual.input_resolution = 8
        self.logit_scale = torch.nn.Parameter(torch.tensor(np.log(10.0), dtype=torch.float32))
        self.prompt_index = {}

    def encode_text(self, tokens):
        rows = [self.prompt_index.setdefault(tuple(t.tolist()), len(self.prompt_index)) for t in tokens]
        return torch.eye(3)[rows]

    def encode_image(self, images):
        return images.mean(dim=(2, 3))
