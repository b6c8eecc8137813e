"""Adam and AdamW that hand channels-last weights to the kernel in the order they are stored.

The training stages keep their models channels-last (:func:`wsss.device.channels_last`), so
convolution weights with a kernel larger than 1x1 and more than one input channel, their
gradients and their Adam moments are contiguous in NHWC order but not in NCHW order. torch's
fused CPU Adam kernel copies every such tensor to a contiguous buffer and back on each step.
The update is elementwise, so stepping the same memory through its ``permute(0, 2, 3, 1)`` view
(contiguous) writes the same bytes without the copies (bench/bench_adamw_layout.py,
docs/benchmarks.md). Parameters, gradients and the saved state keep
their layout; only the lists handed to the kernel hold views.
"""

from __future__ import annotations

import torch


def is_channels_last_only(tensor: torch.Tensor) -> bool:
    """Whether a 4-d tensor is contiguous channels-last but not contiguous in NCHW order."""
    return tensor.dim() == 4 and not tensor.is_contiguous() and tensor.is_contiguous(memory_format=torch.channels_last)


class _StepThroughNHWCViews:
    """Adam's group setup, with each channels-last parameter's tensors replaced by their NHWC views."""

    def _init_group(self, group, params, grads, exp_avgs, exp_avg_sqs, max_exp_avg_sqs, state_steps):
        has_complex = super()._init_group(group, params, grads, exp_avgs, exp_avg_sqs, max_exp_avg_sqs, state_steps)
        # Decided per parameter so that all its tensors keep one shape (a gradient of another layout
        # is still right, only copied by the kernel as before).
        permuted = [is_channels_last_only(param) for param in params]
        for tensors in (params, grads, exp_avgs, exp_avg_sqs, max_exp_avg_sqs):
            if tensors:
                tensors[:] = [t.permute(0, 2, 3, 1) if p else t for t, p in zip(tensors, permuted, strict=True)]
        return has_complex


class ChannelsLastAdam(_StepThroughNHWCViews, torch.optim.Adam):
    """torch's Adam, stepping channels-last weights without layout copies (same results)."""


class ChannelsLastAdamW(_StepThroughNHWCViews, torch.optim.AdamW):
    """torch's AdamW, stepping channels-last weights without layout copies (same results)."""
