"""Random-init weights in the formats the real runs read: torchvision ResNet files and OpenAI CLIP archives."""

from __future__ import annotations

import os

import torch
import torchvision

from wsss.io import atomic_path
from wsss.models.clip_scorer import export_torchscript, openai_clip

# clip.model.CLIP's arguments for OpenAI's published architectures (their state dicts imply these).
VIT_B_32 = dict(
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
)
OPENAI_CLIP = {"ViT-B/32": VIT_B_32, "ViT-B/16": {**VIT_B_32, "vision_patch_size": 16}}


def build_openai_clip(architecture: str = "ViT-B/32") -> torch.nn.Module:
    """A randomly initialised ``clip.model.CLIP`` of one of OpenAI's architectures (fp32)."""
    return openai_clip().model.CLIP(**OPENAI_CLIP[architecture])


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
    torch.manual_seed(seed)
    model = build_openai_clip(architecture)
    with atomic_path(path) as tmp:
        export_torchscript(model, str(tmp), dtype=torch.float16)
