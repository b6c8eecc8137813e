"""The reference's released CAM networks as this project's CAM checkpoints.

IRN's ``net/resnet50_cam.Net`` (the baseline ``res50_cam.pth``), CLIMS's ``net/resnet50_clims.CLIMS``
and its camera-ready ``Classifier`` register one ResNet-50 under several containers (``resnet50`` or
``model``, ``stage1..``, ``backbone``) and the classifier under one or two, and
``torch.save(model.state_dict())`` writes every tensor once per path. A file is read as it is: each
key is traced back to its part of the ResNet or the classifier, copies must agree, and the result
must fit :class:`~wsss.models.cam_net.CAMNet` (ResNet-50, output stride 16) exactly.
"""

from __future__ import annotations

import os

import torch

from wsss.checkpoints import check_state_dict, file_sha256, read_state_dict
from wsss.errors import ConfigError
from wsss.models.cam_net import CAMNet

BACKBONE, OUTPUT_STRIDE = "resnet50", 16  # strides (2, 2, 2, 1) in every reference network


def _aliases(resnet: str, stages: dict[str, str], containers: dict[str, str]) -> list[tuple[str, str]]:
    """(prefix, this project's prefix) pairs of one layout: the ResNet under ``resnet``, its parts
    again under each ``stages`` path, and other containers' paths (``containers``) as given."""
    project = {"conv1": "backbone.stem.0.", "bn1": "backbone.stem.1."}
    project |= {f"layer{i}": f"backbone.layer{i}." for i in range(1, 5)}
    pairs = [(f"{resnet}.{part}.", ours) for part, ours in project.items()]
    pairs += [(f"{path}.", project[part]) for path, part in stages.items()]
    return pairs + [(f"{path}.", ours) for path, ours in containers.items()]


# IRN's net/resnet50_cam.Net (res50_cam.pth) and CLIMS's net/resnet50_clims.CLIMS (the improved
# version): stage1 = Sequential(conv1, bn1, relu, maxpool, layer1), stage2..4 wrap layer2..4,
# backbone = ModuleList([stage1..4]), newly_added = ModuleList([classifier]).
_IMPROVED_PARTS = [
    (1, 0, "conv1"),
    (1, 1, "bn1"),
    (1, 4, "layer1"),
    (2, 0, "layer2"),
    (3, 0, "layer3"),
    (4, 0, "layer4"),
]
IMPROVED = _aliases(
    "resnet50",
    {f"stage{stage}.{index}": part for stage, index, part in _IMPROVED_PARTS}
    | {f"backbone.{stage - 1}.{index}": part for stage, index, part in _IMPROVED_PARTS},
    {"classifier": "classifier.", "newly_added.0": "classifier."},
)
# CLIMS's camera-ready version (previous_version/core/networks.py Classifier): the ResNet under
# ``model``, stage1 = Sequential(conv1, bn1, relu, maxpool), stage2..5 wrap layer1..4.
CAMERA_READY = _aliases(
    "model",
    {"stage1.0": "conv1", "stage1.1": "bn1", **{f"stage{i + 1}.0": f"layer{i}" for i in range(1, 5)}},
    {"classifier": "classifier."},
)
LAYOUTS = {
    "IRN net/resnet50_cam.Net / CLIMS net/resnet50_clims.CLIMS": IMPROVED,
    "CLIMS camera-ready core/networks.Classifier": CAMERA_READY,
}


def detect_layout(keys: list[str]) -> str:
    """The reference layout whose ResNet prefix the keys use: ``model.`` (camera-ready) or ``resnet50.``."""
    improved, camera_ready = LAYOUTS
    return camera_ready if any(key.startswith("model.") for key in keys) else improved


def project_name(key: str, layout: str) -> str | None:
    """This project's CAMNet key for a key of ``layout``, None if the layout has no such key."""
    for prefix, ours in LAYOUTS[layout]:
        if key.startswith(prefix):
            return ours + key.removeprefix(prefix)
    return None


def convert_released_cam(
    state: dict[str, torch.Tensor], num_classes: int, source: str
) -> tuple[dict[str, torch.Tensor], str]:
    """A reference CAM network's state dict under CAMNet's keys, checked strictly against CAMNet, and
    the layout it was read as. DataParallel's ``module.`` prefix is dropped.

    ``source`` names the file in errors: keys outside the reference layout, copies of one tensor that
    differ, missing tensors, wrong shapes (a classifier for another number of classes, say).
    """
    state = {key.removeprefix("module."): tensor for key, tensor in state.items()}
    layout = detect_layout(list(state))
    converted: dict[str, torch.Tensor] = {}
    seen_as: dict[str, str] = {}
    foreign = []
    for key, tensor in state.items():
        ours = project_name(key, layout)
        if ours is None:
            foreign.append(key)
            continue
        if ours in converted:
            if converted[ours].shape != tensor.shape or not torch.equal(converted[ours], tensor):
                raise ConfigError(
                    f"{source}: {key} and {seen_as[ours]} are the same parameter of {layout} but hold different "
                    "values: not a state dict saved from that network"
                )
            continue
        converted[ours], seen_as[ours] = tensor, key
    if foreign:
        shown = ", ".join(foreign[:5]) + (", ..." if len(foreign) > 5 else "")
        raise ConfigError(f"{source}: {len(foreign)} keys are not part of {layout} ({shown})")
    with torch.device("meta"):
        expected = CAMNet(num_classes, BACKBONE, OUTPUT_STRIDE).state_dict()
    check_state_dict(converted, expected, source, what=f"{layout} with {num_classes} classes")
    return converted, layout


def read_released_cam(path: str | os.PathLike, num_classes: int) -> tuple[CAMNet, dict]:
    """The CAMNet a released file holds and its provenance (file, size, sha256, layout)."""
    state, layout = convert_released_cam(read_state_dict(path), num_classes, str(path))
    model = CAMNet(num_classes, BACKBONE, OUTPUT_STRIDE)
    model.load_state_dict(state, strict=False)  # num_batches_tracked may be absent; all else checked above
    provenance = {
        "file": str(path),
        "bytes": os.path.getsize(path),
        "sha256": file_sha256(path),
        "layout": layout,
    }
    return model, provenance
