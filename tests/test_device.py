"""The precision each setting gives on each device, decided without a GPU."""

import contextlib

import pytest
import torch

from wsss.device import PrecisionPlan, autocast, precision_plan

CPU, CUDA = torch.device("cpu"), torch.device("cuda")


@pytest.mark.parametrize(
    "precision, device, plan",
    [
        # the reference: CAM network fp32, CLIP as clip.load leaves it (fp16 on CUDA, fp32 on CPU)
        ("reference", CUDA, PrecisionPlan(None, torch.float16, None)),
        ("reference", CPU, PrecisionPlan(None, torch.float32, None)),
        ("bf16-autocast", CUDA, PrecisionPlan(torch.bfloat16, torch.float32, torch.bfloat16)),
        ("bf16-autocast", CPU, PrecisionPlan(None, torch.float32, None)),
    ],
)
def test_precision_plan(precision, device, plan):
    assert precision_plan(precision, device) == plan


def test_unknown_precision_is_refused():
    with pytest.raises(ValueError, match="precision must be one of"):
        precision_plan("fp8", CPU)


def test_no_autocast_without_a_dtype_or_on_the_cpu():
    assert isinstance(autocast(CUDA, None), contextlib.nullcontext)
    assert isinstance(autocast(CPU, torch.bfloat16), contextlib.nullcontext)
