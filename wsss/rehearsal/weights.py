"""Random-init weights in the formats the real runs read: torchvision ResNet files and OpenAI CLIP archives."""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import torch
import torchvision

from wsss.io import atomic_path

# clip.model.CLIP's arguments for OpenAI's published architectures (their state dicts imply these).
CLIP_ARCHITECTURES = {
    "ViT-B/32": dict(
        embed_dim=512,
        image_resolution=224,
        vision_layers=12,
        vision_width=768,
        vision_patch_size=32,
        context_length=77,
        vocab_size=49408,
        transformer_width=512,
        transformer_heads=8,
        transformer_layers=12,
    ),
    "ViT-B/16": dict(
        embed_dim=512,
        image_resolution=224,
        vision_layers=12,
        vision_width=768,
        vision_patch_size=16,
        context_length=77,
        vocab_size=49408,
        transformer_width=512,
        transformer_heads=8,
        transformer_layers=12,
    ),
}


def write_torchvision_resnet(path: str | os.PathLike, depth: str, seed: int = 0) -> None:
    """A torchvision ``depth`` state dict as its V1 ImageNet files hold it (with ``fc``, without
    ``num_batches_tracked``). The last BatchNorm of every block starts at zero, so that activations
    stay finite through the frozen, untrained network."""
    torch.manual_seed(seed)
    net = getattr(torchvision.models, depth)(weights=None, zero_init_residual=True)
    state = {k: v for k, v in net.state_dict().items() if not k.endswith("num_batches_tracked")}
    with atomic_path(path) as tmp:
        torch.save(state, tmp)


def write_openai_clip(path: str | os.PathLike, architecture: str = "ViT-B/32", seed: int = 0) -> None:
    """A traced TorchScript archive of a random-init CLIP with fp16 weights, the form of OpenAI's files."""
    import clip

    torch.manual_seed(seed)
    model = clip.model.CLIP(**CLIP_ARCHITECTURES[architecture]).eval()
    resolution = model.visual.input_resolution
    example = (torch.zeros(1, 3, resolution, resolution), clip.tokenize(["a photo of a boat."]))
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        traced = torch.jit.trace(model, example)
    traced = traced.half()
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        torch.jit.save(traced, str(tmp))
