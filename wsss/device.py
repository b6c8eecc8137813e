"""Device choice and precision: CUDA with bf16 autocast when present, else the CPU in fp32."""

import contextlib

import torch


def pick_device() -> torch.device:
    """The first CUDA device if one is available, else the CPU."""
    return torch.device("cuda") if torch.cuda.is_available() else torch.device("cpu")


def autocast(device: torch.device):
    """bf16 autocast on CUDA, nothing on CPU."""
    if device.type == "cuda":
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()
