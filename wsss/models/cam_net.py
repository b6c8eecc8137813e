"""The CAM network: a ResNet backbone and a bias-free 1x1 convolution producing one map per class."""

from __future__ import annotations

import torch
import torch.nn.functional as F
import torchvision

from wsss.checkpoints import load_checked, read_checkpoint
from wsss.data.training_data import IMAGENET_MEAN, IMAGENET_STD
from wsss.models.backbone import ResNetBackbone

# OpenAI CLIP's input statistics, which CLIMS's camera-ready network was trained and run with.
CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)


class CAMNet(torch.nn.Module):
    """Backbone + 1x1 classifier. The baseline pools the features (GAP) before the classifier;
    CLIMS applies the classifier to the feature map and takes a sigmoid; CAM inference takes
    the ReLU of the same map. All three are one weight set, so CLIMS starts from the baseline. Its
    input is ImageNet-normalised (``input_mean`` / ``input_std``, which CAM inference reads)."""

    head = "classifier"
    input_mean, input_std = tuple(IMAGENET_MEAN.tolist()), tuple(IMAGENET_STD.tolist())

    def __init__(
        self,
        num_classes: int,
        depth: str = "resnet50",
        output_stride: int = 16,
        pretrained: str | None = None,
        fixed_batchnorm: bool = False,
    ):
        super().__init__()
        self.backbone = ResNetBackbone(depth, output_stride, pretrained, fixed_batchnorm)
        self.classifier = torch.nn.Conv2d(self.backbone.out_channels, num_classes, 1, bias=False)
        self.num_classes = num_classes

    def logits(self, images: torch.Tensor) -> torch.Tensor:
        """(N, C) image-level class scores: GAP of the features, then the classifier."""
        features = self.backbone(images)
        pooled = features.mean(dim=(2, 3), keepdim=True)
        return self.classifier(pooled).flatten(1)

    def class_maps(self, images: torch.Tensor) -> torch.Tensor:
        """(N, C, h, w) raw classifier responses on the feature map."""
        return self.classifier(self.backbone(images))

    def probabilities(self, images: torch.Tensor, logit_offset: float = 0.0) -> torch.Tensor:
        """CLIMS's P = sigmoid(1x1 conv(features) + logit_offset), (N, C, h, w).

        The reference has no offset. A negative one starts every map dark, so that training
        grows P from the objects outwards instead of starting at P = 0.5 everywhere.
        """
        return torch.sigmoid(self.class_maps(images) + logit_offset)

    def cams(self, images: torch.Tensor) -> torch.Tensor:
        """ReLU class activation maps for inference, (N, C, h, w)."""
        return F.relu(self.class_maps(images))

    def parameter_groups(self) -> tuple[list[torch.nn.Parameter], list[torch.nn.Parameter]]:
        """(backbone, classifier) trainable parameters, for separate learning rates."""
        backbone = [p for p in self.backbone.parameters() if p.requires_grad]
        return backbone, list(self.classifier.parameters())


class CameraReadyCAMNet(CAMNet):
    """CLIMS's camera-ready network (``previous_version/models/clip_resnet.CLIMS``), for CAM inference from
    its released model: the same ResNet-50 trunk at output stride 16, then ``cam_head``, a bottleneck
    block whose activations are LeakyReLU (slope 0.01) and a bias-free 1x1 convolution to background
    + C maps; the CAMs are the ReLU of the C class maps (the background map dropped), on an input
    normalised with CLIP's statistics (its ``inference_cam.py``). CLIMS does not train from it."""

    head = "camera_ready"
    input_mean, input_std = CLIP_MEAN, CLIP_STD

    def __init__(self, num_classes: int, depth: str = "resnet50", output_stride: int = 16):
        super().__init__(num_classes, depth, output_stride)
        del self.classifier
        width = self.backbone.out_channels
        block = torchvision.models.resnet.Bottleneck(width, width // 4)
        block.relu = torch.nn.LeakyReLU(inplace=True)
        self.cam_head = torch.nn.Sequential(block, torch.nn.Conv2d(width, num_classes + 1, 1, bias=False))

    def class_maps(self, images: torch.Tensor) -> torch.Tensor:
        """(N, C, h, w) class maps: the head's output without its first (background) map."""
        return self.cam_head(self.backbone(images))[:, 1:]


CAM_NETWORKS = {network.head: network for network in (CAMNet, CameraReadyCAMNet)}
CAM_META = ("num_classes", "backbone", "output_stride")  # what a CAM network is rebuilt from
CAM_CHECKPOINT = "a CAM checkpoint (train_cam's or train_clims')"


def read_cam_checkpoint(checkpoint: str) -> dict:
    """A CAM checkpoint's state; one of another stage (an IRN's, a segmenter's) is a ConfigError naming
    the file, the metadata it lacks and the kind expected."""
    return read_checkpoint(checkpoint, CAM_META, CAM_CHECKPOINT)


def cam_net_from_state(state: dict, checkpoint: str) -> CAMNet:
    """The CAM network a checkpoint's state (as :func:`read_cam_checkpoint` returns it) describes."""
    meta = state["meta"]
    model = CAM_NETWORKS[meta.get("head", CAMNet.head)](meta["num_classes"], meta["backbone"], meta["output_stride"])
    load_checked(model, state["model"], checkpoint)
    return model


def cam_backbone_state(checkpoint: str) -> tuple[dict[str, torch.Tensor], dict]:
    """The trained backbone's state dict (``ResNetBackbone`` keys) and the metadata of a CAM checkpoint."""
    saved = read_checkpoint(checkpoint, ("backbone", "output_stride"), CAM_CHECKPOINT)
    backbone = {k.removeprefix("backbone."): v for k, v in saved["model"].items() if k.startswith("backbone.")}
    return backbone, saved["meta"]
