"""Random-init weights in the formats the real runs read: torchvision ResNet files, deeplab-pytorch's
Caffe-converted ResNet files, OpenAI CLIP archives and the reference's released CAM networks."""

from __future__ import annotations

import os

import torch
import torch.nn.functional as F
import torchvision

from wsss.io import atomic_path
from wsss.models.clip_scorer import export_torchscript, openai_clip
from wsss.models.deeplab_caffe import deeplab_name

# clip.model.CLIP's arguments for OpenAI's published architectures (their state dicts imply these).
VIT_B_32 = dict(
    embed_dim=512,
    image_resolution=224,
    vision_layers=12,
    vision_width=768,
    vision_patch_size=32,
    context_length=77,
    vocab_size=49408,
    transformer_width=512,
    transformer_heads=8,
    transformer_layers=12,
)
OPENAI_CLIP = {"ViT-B/32": VIT_B_32, "ViT-B/16": {**VIT_B_32, "vision_patch_size": 16}}


def build_openai_clip(architecture: str = "ViT-B/32") -> torch.nn.Module:
    """A randomly initialised ``clip.model.CLIP`` of one of OpenAI's architectures (fp32)."""
    return openai_clip().model.CLIP(**OPENAI_CLIP[architecture])


def write_torchvision_resnet(path: str | os.PathLike, depth: str, seed: int = 0) -> None:
    """A torchvision ``depth`` state dict as its V1 ImageNet files hold it (with ``fc``, without
    ``num_batches_tracked``). The last BatchNorm of every block starts at zero, so that activations
    stay finite through the frozen, untrained network."""
    torch.manual_seed(seed)
    net = getattr(torchvision.models, depth)(weights=None, zero_init_residual=True)
    state = {k: v for k, v in net.state_dict().items() if not k.endswith("num_batches_tracked")}
    with atomic_path(path) as tmp:
        torch.save(state, tmp)


def write_deeplab_caffe_resnet(path: str | os.PathLike, depth: str = "resnet101", seed: int = 0) -> None:
    """A random-init ResNet as deeplab-pytorch's ``deeplabv1_resnet101-imagenet.pth`` holds it: its key
    names (``layer1.conv1.conv``, ``layer<s>.block<b>.{reduce,conv3x3,increase,shortcut}.{conv,bn}``),
    ``num_batches_tracked`` in every BatchNorm (its convert.py adds them), the ImageNet classifier as
    DeepLabV1's 1x1 convolution ``fc`` (1000 x 2048 x 1 x 1), no ASPP. The last BatchNorm of every
    block starts at zero, as :func:`write_torchvision_resnet`'s."""
    torch.manual_seed(seed)
    net = getattr(torchvision.models, depth)(weights=None, zero_init_residual=True)
    state = {deeplab_name(k): v for k, v in net.state_dict().items() if not k.startswith("fc.")}
    state["fc.weight"], state["fc.bias"] = net.fc.weight.detach()[:, :, None, None].clone(), net.fc.bias.detach()
    with atomic_path(path) as tmp:
        torch.save(state, tmp)


def write_openai_clip(path: str | os.PathLike, architecture: str = "ViT-B/32", seed: int = 0) -> None:
    """A traced TorchScript archive of a random-init CLIP with fp16 weights, the form of OpenAI's files."""
    torch.manual_seed(seed)
    model = build_openai_clip(architecture)
    with atomic_path(path) as tmp:
        export_torchscript(model, str(tmp), dtype=torch.float16)


def _resnet50_at_stride_16() -> torchvision.models.ResNet:
    """A random-init torchvision ResNet-50 without layer4's stride (the reference's strides 2, 2, 2, 1), its
    last BatchNorm of every block at zero as :func:`write_torchvision_resnet`'s."""
    resnet = torchvision.models.resnet50(weights=None, zero_init_residual=True)
    resnet.layer4[0].conv2.stride = resnet.layer4[0].downsample[0].stride = (1, 1)
    return resnet


class ReleasedCamLayout(torch.nn.Module):
    """A ResNet-50 CAM network registered as the reference's released files have it, so that its state
    dict holds exactly their key names and shapes: IRN's ``net/resnet50_cam.Net`` (also CLIMS's
    ``net/resnet50_clims.CLIMS``)."""

    def __init__(self, num_classes: int):
        super().__init__()
        resnet = _resnet50_at_stride_16()
        del resnet.fc  # the reference's ResNet-50 has no ImageNet classifier
        self.resnet50 = resnet
        self.stage1 = torch.nn.Sequential(resnet.conv1, resnet.bn1, resnet.relu, resnet.maxpool, resnet.layer1)
        self.stage2 = torch.nn.Sequential(resnet.layer2)
        self.stage3 = torch.nn.Sequential(resnet.layer3)
        self.stage4 = torch.nn.Sequential(resnet.layer4)
        self.classifier = torch.nn.Conv2d(2048, num_classes, 1, bias=False)
        self.backbone = torch.nn.ModuleList([self.stage1, self.stage2, self.stage3, self.stage4])
        self.newly_added = torch.nn.ModuleList([self.classifier])

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """The reference's CAM: the classifier on the last stage's features, then a ReLU."""
        features = self.stage4(self.stage3(self.stage2(self.stage1(images))))
        return F.relu(F.conv2d(features, self.classifier.weight))


def write_released_cam(path: str | os.PathLike, num_classes: int, seed: int = 0) -> None:
    """A random-init :class:`ReleasedCamLayout` saved as the reference saves it (``torch.save(state_dict())``)."""
    torch.manual_seed(seed)
    with atomic_path(path) as tmp:
        torch.save(ReleasedCamLayout(num_classes).state_dict(), tmp)


class CameraReadyClimsLayout(torch.nn.Module):
    """CLIMS's camera-ready network registered as its code registers it (``previous_version/models/
    clip_resnet.CLIMS``): the ResNet-50's parts at the top level (strides 1, 2, 2, 1 for layer1..4) and
    ``cam_head`` = a LeakyReLU bottleneck and a 1x1 convolution to background + C maps."""

    def __init__(self, num_classes: int):
        super().__init__()
        resnet = _resnet50_at_stride_16()
        for name in ("conv1", "bn1", "relu", "maxpool", "layer1", "layer2", "layer3", "layer4"):
            setattr(self, name, getattr(resnet, name))
        block = torchvision.models.resnet.Bottleneck(2048, 512)
        block.relu = torch.nn.LeakyReLU(inplace=True)
        self.cam_head = torch.nn.Sequential(block, torch.nn.Conv2d(2048, num_classes + 1, 1, bias=False))

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """The reference's inference: ReLU of the class maps, the background map dropped."""
        x = self.maxpool(self.relu(self.bn1(self.conv1(images))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return F.relu(self.cam_head(x)[:, 1:])
