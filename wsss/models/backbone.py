"""ResNet feature extractors with a configurable output stride (IRN/CLIMS style, no dilation)."""

from __future__ import annotations

import os

import torch
import torchvision

from wsss.checkpoints import load_checked, read_state_dict
from wsss.layers import FixedBatchNorm2d
from wsss.named_weights import weights_file

STRIDE_LAYERS = {32: (), 16: ("layer4",), 8: ("layer3", "layer4")}


def _remove_stride(layer: torch.nn.Sequential) -> None:
    """Make the first block of ``layer`` keep the resolution (stride 1 in its conv and shortcut)."""
    block = layer[0]
    for conv in (getattr(block, "conv1", None), getattr(block, "conv2", None)):
        if conv is not None and conv.stride != (1, 1):
            conv.stride = (1, 1)
    if block.downsample is not None:
        block.downsample[0].stride = (1, 1)


class ResNetBackbone(torch.nn.Module):
    """torchvision ResNet trunk (stem + layer1..4) returning the last feature map.

    ``fixed_batchnorm`` builds it with :class:`FixedBatchNorm2d` (same state-dict keys), as the
    reference baseline; otherwise BatchNorm uses batch statistics in train mode, as CLIMS does.
    """

    def __init__(
        self,
        depth: str = "resnet50",
        output_stride: int = 16,
        pretrained: str | os.PathLike | None = None,
        fixed_batchnorm: bool = False,
    ):
        super().__init__()
        if output_stride not in STRIDE_LAYERS:
            raise ValueError(f"output_stride must be one of {sorted(STRIDE_LAYERS)}, got {output_stride}")
        norm_layer = FixedBatchNorm2d if fixed_batchnorm else torch.nn.BatchNorm2d
        net = getattr(torchvision.models, depth)(weights=None, norm_layer=norm_layer)
        if pretrained:
            path = weights_file(pretrained)  # a file, or torchvision weights by name (their cached file)
            load_checked(net, read_state_dict(path), path, ("fc.",), f"a torchvision {depth}")
        for name in STRIDE_LAYERS[output_stride]:
            _remove_stride(getattr(net, name))
        self.stem = torch.nn.Sequential(net.conv1, net.bn1, net.relu, net.maxpool)
        self.layer1, self.layer2, self.layer3, self.layer4 = net.layer1, net.layer2, net.layer3, net.layer4
        self.out_channels = net.fc.in_features
        self.output_stride = output_stride

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stem(x)
        return self.layer4(self.layer3(self.layer2(self.layer1(x))))

    def stage_outputs(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Feature maps after the stem and after each of layer1..4 (strides 4, 4, 8, 16, output stride)."""
        outputs = [self.stem(x)]
        for layer in (self.layer1, self.layer2, self.layer3, self.layer4):
            outputs.append(layer(outputs[-1]))
        return outputs

    def stage_channels(self) -> list[int]:
        """Channel counts of :meth:`stage_outputs`."""
        last_conv = [
            [m for m in layer.modules() if isinstance(m, torch.nn.Conv2d)][-1]
            for layer in (self.layer1, self.layer2, self.layer3, self.layer4)
        ]
        return [self.stem[0].out_channels, *(conv.out_channels for conv in last_conv)]

    def freeze_stem(self) -> None:
        """Freeze conv1/bn1, as the reference does for both CAM networks."""
        for parameter in self.stem.parameters():
            parameter.requires_grad_(False)
