"""Random-init weights in the formats the real runs read: torchvision ResNet files and OpenAI CLIP archives."""

from __future__ import annotations

import os
from dataclasses import replace

import torch
import torchvision

from wsss.demo.clip import DemoClipArchitecture, build_demo_clip, export_torchscript
from wsss.io import atomic_path

# OpenAI's published CLIP architectures (their state dicts imply these sizes).
VIT_B_32 = DemoClipArchitecture(
    embed_dim=512,
    image_resolution=224,
    vision_layers=12,
    vision_width=768,
    vision_patch_size=32,
    context_length=77,
    text_width=512,
    text_layers=12,
)
OPENAI_CLIP = {"ViT-B/32": VIT_B_32, "ViT-B/16": replace(VIT_B_32, vision_patch_size=16)}


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
    model = build_demo_clip(OPENAI_CLIP[architecture])
    with atomic_path(path) as tmp:
        export_torchscript(model, str(tmp), dtype=torch.float16)
