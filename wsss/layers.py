"""Network layers that both the models and the distributed helpers need, kept below both: telling a
frozen BatchNorm apart must not import a model (or torchvision)."""

from __future__ import annotations

import torch
import torch.nn.functional as F


class FixedBatchNorm2d(torch.nn.BatchNorm2d):
    """BatchNorm that always normalises with its running statistics and never updates them, in
    train mode too, while its scale and shift stay trainable: the reference baseline's BatchNorm."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.batch_norm(x, self.running_mean, self.running_var, self.weight, self.bias, False, 0.0, self.eps)
