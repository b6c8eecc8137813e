"""The precision each setting gives on each device, decided without a GPU."""

import contextlib

import pytest
import torch

import wsss.device
from wsss.device import PrecisionPlan, autocast, channels_last, fast_bf16, precision_plan

CPU, CUDA = torch.device("cpu"), torch.device("cuda")


@pytest.fixture(params=[True, False], ids=["native-bf16-cpu", "fp32-only-cpu"])
def native_bf16(request, monkeypatch):
    """Decide as on a CPU with (or without) bf16 in hardware, whatever this machine's CPU is."""
    monkeypatch.setattr(wsss.device, "cpu_has_native_bf16", lambda: request.param)
    return request.param


@pytest.mark.parametrize(
    "precision, device, plan",
    [
        # the reference: CAM network fp32, CLIP as clip.load leaves it (fp16 on CUDA, fp32 on CPU)
        ("reference", CUDA, PrecisionPlan(None, torch.float16, None)),
        ("reference", CPU, PrecisionPlan(None, torch.float32, None)),
        ("bf16-autocast", CUDA, PrecisionPlan(torch.bfloat16, torch.float32, torch.bfloat16)),
    ],
)
def test_precision_plan(precision, device, plan, native_bf16):
    assert precision_plan(precision, device) == plan


def test_bf16_autocast_on_the_cpu_only_where_it_computes_bf16_natively(native_bf16):
    mixed = torch.bfloat16 if native_bf16 else None
    assert precision_plan("bf16-autocast", CPU) == PrecisionPlan(mixed, torch.float32, mixed)
    assert fast_bf16(CPU) == mixed and fast_bf16(CUDA) == torch.bfloat16


def test_unknown_precision_is_refused():
    with pytest.raises(ValueError, match="precision must be one of"):
        precision_plan("fp8", CPU)


def test_autocast_runs_in_the_dtype_asked_for_and_not_without_one():
    assert isinstance(autocast(CUDA, None), contextlib.nullcontext)
    assert isinstance(autocast(CPU, None), contextlib.nullcontext)
    layer = torch.nn.Linear(4, 4)
    with autocast(CPU, torch.bfloat16):
        assert layer(torch.rand(2, 4)).dtype == torch.bfloat16
    assert layer(torch.rand(2, 4)).dtype == torch.float32


def test_channels_last_changes_the_layout_not_the_values():
    conv = torch.nn.Conv2d(3, 8, 3)
    images = torch.rand(2, 3, 16, 16)
    expected = conv(images)
    channels_last(conv)
    assert conv.weight.is_contiguous(memory_format=torch.channels_last)
    moved = channels_last(images)
    assert moved.is_contiguous(memory_format=torch.channels_last) and torch.equal(moved, images)
    torch.testing.assert_close(conv(moved), expected)
