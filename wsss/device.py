"""Device choice and precision: the reference's dtypes, or bf16 autocast on CUDA and on CPUs that compute
bf16 natively (AVX512-BF16 or AMX); other CPUs run fp32, as emulated bf16 is slower than fp32 there."""

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


def cpu_has_native_bf16() -> bool:
    """Whether this CPU computes bf16 in hardware (AVX512-BF16 or AMX), where oneDNN's bf16 kernels beat fp32."""
    probes = ("_is_avx512_bf16_supported", "_is_amx_tile_supported")
    return any(getattr(torch.cpu, probe, lambda: False)() for probe in probes)


def fast_bf16(device: torch.device) -> torch.dtype | None:
    """bfloat16 where bf16 autocast speeds ``device`` up (CUDA, or a CPU with native bf16), else None."""
    if device.type == "cuda" or (device.type == "cpu" and cpu_has_native_bf16()):
        return torch.bfloat16
    return None


def autocast(device: torch.device, dtype: torch.dtype | None):
    """Autocast to ``dtype`` on ``device`` (CUDA or CPU); nothing when ``dtype`` is None."""
    if dtype is None or device.type not in ("cuda", "cpu"):
        return contextlib.nullcontext()
    return torch.autocast(device.type, dtype=dtype)


def channels_last(tensor_or_model: torch.nn.Module | torch.Tensor) -> torch.nn.Module | torch.Tensor:
    """A module or a 4-d batch in the channels-last layout, which oneDNN's and cuDNN's convolutions prefer
    (on the demo's CPU about 3x faster per ResNet training step with bf16, bench/bench_cpu_training.py)."""
    if isinstance(tensor_or_model, torch.nn.Module):
        return tensor_or_model.to(memory_format=torch.channels_last)
    return tensor_or_model.contiguous(memory_format=torch.channels_last)


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
    "bf16-autocast" keeps fp32 weights everywhere and runs both under bf16 autocast where that is
    fast (:func:`fast_bf16`: CUDA, or a CPU with native bf16); elsewhere fp32.
    """
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {PRECISIONS}, got {precision!r}")
    cuda = device.type == "cuda"
    if precision == "reference":
        return PrecisionPlan(None, torch.float16 if cuda else torch.float32, None)
    mixed = fast_bf16(device)
    return PrecisionPlan(mixed, torch.float32, mixed)
