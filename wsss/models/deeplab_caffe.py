"""deeplab-pytorch's Caffe-converted MSRA ResNets (``deeplabv1_resnet101-imagenet.pth``), read into mmseg's ResNet.

The reference's DeepLabV2 starts from this file. Its key names are deeplab-pytorch's
(``libs/models/resnet.py``): the stem is ``layer1.conv1.{conv,bn}``, the stages ``layer2`` to
``layer5``, each block ``block<n>`` with ``reduce`` (1x1), ``conv3x3``, ``increase`` (1x1) and, in
the first block, ``shortcut``, each a bias-free ``conv`` and a ``bn`` (Caffe's BatchNorm and Scale
folded into one, with ``num_batches_tracked`` added by its ``convert.py``). The ImageNet
classifier ``fc`` may be there (the reference loads with ``strict=False`` and skips it); the
ASPP is not. mmseg's ResNet has torchvision's names and shapes, so the file is renamed to them;
the network it fits is mmseg's ``style='caffe'`` (stride on the 1x1 convolution) taking BGR
images minus :data:`DEEPLAB_MEAN_BGR`, unscaled.
"""

from __future__ import annotations

import os
import re

import torch
import torchvision

from wsss.checkpoints import check_state_dict, read_state_dict
from wsss.errors import ConfigError
from wsss.refine.crf import CAFFE_MEAN_BGR

# configs/voc12_imagenet_pretrained.yaml of the fork: IMAGE.MEAN B 104.008, G 116.669, R 122.675.
DEEPLAB_MEAN_BGR = CAFFE_MEAN_BGR
BOTTLENECK_DEPTHS = ("resnet50", "resnet101", "resnet152")
_BLOCK_PARTS = {"1": "reduce", "2": "conv3x3", "3": "increase"}
_STEM = {"conv1.weight": "layer1.conv1.conv.weight"}


def deeplab_name(torchvision_name: str) -> str:
    """deeplab-pytorch's name of a torchvision (= mmseg) bottleneck ResNet parameter or buffer."""
    if torchvision_name in _STEM:
        return _STEM[torchvision_name]
    if torchvision_name.startswith("bn1."):
        return "layer1.conv1.bn." + torchvision_name.removeprefix("bn1.")
    if torchvision_name.startswith("fc."):
        return torchvision_name
    found = re.fullmatch(r"layer(\d)\.(\d+)\.(?:(conv|bn)([123])|downsample\.([01]))\.(.+)", torchvision_name)
    if not found:
        raise ValueError(f"{torchvision_name}: not a bottleneck ResNet name")
    stage, block, kind, index, shortcut, leaf = found.groups()
    prefix = f"layer{int(stage) + 1}.block{int(block) + 1}"
    if shortcut is not None:
        return f"{prefix}.shortcut.{'conv' if shortcut == '0' else 'bn'}.{leaf}"
    return f"{prefix}.{_BLOCK_PARTS[index]}.{kind}.{leaf}"


def read_deeplab_caffe_resnet(path: str | os.PathLike, depth: str) -> dict[str, torch.Tensor]:
    """The file at ``path``, checked strictly against deeplab-pytorch's ``depth`` and renamed to
    torchvision's layout (the ImageNet classifier left out).

    A file of another layout (a torchvision file, a DeepLabV2 with its ASPP) or depth is a
    ConfigError naming the file and its missing, unexpected or misshapen keys."""
    if depth not in BOTTLENECK_DEPTHS:
        raise ConfigError(
            f"{path}: deeplab-pytorch's Caffe ResNets are bottleneck ResNets ({BOTTLENECK_DEPTHS}), "
            f"the segmenter's backbone is {depth}"
        )
    with torch.device("meta"):  # only the names and shapes are needed
        layout = getattr(torchvision.models, depth)(weights=None).state_dict()
    names = {key: deeplab_name(key) for key in layout if not key.startswith("fc.")}
    expected = {names[key]: value for key, value in layout.items() if key in names}
    state = read_state_dict(path)
    check_state_dict(state, expected, path, ("fc.",), f"deeplab-pytorch's Caffe-converted {depth}")
    return {key: state[name] for key, name in names.items() if name in state}
