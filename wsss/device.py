"""Device choice and precision: the reference's dtypes, or bf16 autocast on CUDA; the CPU runs fp32."""

import contextlib
import os
from dataclasses import dataclass

import torch

PRECISIONS = ("reference", "bf16-autocast")


def pick_device() -> torch.device:
    """The process's CUDA device if one is available (the first, or under torchrun the one of its
    LOCAL_RANK), else the CPU."""
    if not torch.cuda.is_available():
        return torch.device("cpu")
    return torch.device("cuda", int(os.environ["LOCAL_RANK"])) if "LOCAL_RANK" in os.environ else torch.device("cuda")


def autocast(device: torch.device, dtype: torch.dtype | None = torch.bfloat16):
    """Autocast to ``dtype`` on CUDA; nothing on CPU or when ``dtype`` is None."""
    if device.type == "cuda" and dtype is not None:
        return torch.autocast("cuda", dtype=dtype)
    return contextlib.nullcontext()


@dataclass(frozen=True)
class PrecisionPlan:
    """The dtypes a training stage runs in on one device."""

    network_autocast: torch.dtype | None  # autocast around the trained network; None: plain fp32
    clip_weights: torch.dtype  # parameter dtype of the frozen CLIP
    clip_autocast: torch.dtype | None  # autocast around CLIP; None: it computes in its weights' dtype


def precision_plan(precision: str, device: torch.device) -> PrecisionPlan:
    """The plan for a ``precision`` setting on ``device``.

    "reference" is what the reference code does: the trained network in fp32 without autocast,
    CLIP in fp16 on CUDA (clip.load converts its weights there) and in fp32 on the CPU.
    "bf16-autocast" keeps fp32 weights everywhere and runs both under bf16 autocast on CUDA.
    """
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {PRECISIONS}, got {precision!r}")
    cuda = device.type == "cuda"
    if precision == "reference":
        return PrecisionPlan(None, torch.float16 if cuda else torch.float32, None)
    mixed = torch.bfloat16 if cuda else None
    return PrecisionPlan(mixed, torch.float32, mixed)
