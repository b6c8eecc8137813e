"""The reference's released CAM networks as this project's CAM checkpoints.

IRN's ``net/resnet50_cam.Net`` (the baseline ``res50_cam.pth``) and CLIMS's ``net/resnet50_clims.CLIMS``
(the improved version's CLIMS network) register one ResNet-50 under several containers
(``resnet50``, ``stage1..4``, ``backbone``) and the classifier under two (``classifier``,
``newly_added``), and ``torch.save(model.state_dict())`` writes every tensor once per path. A file is
read as it is: each key is traced back to its part of the ResNet or the classifier, copies must
agree, and the result must fit :class:`~wsss.models.cam_net.CAMNet` (ResNet-50, output stride 16)
exactly. CLIMS's camera-ready model (``previous_version/models/clip_resnet.CLIMS``: the ResNet's parts
at the top level and a ``cam_head``) is read the same way into
:class:`~wsss.models.cam_net.CameraReadyCAMNet`.
"""

from __future__ import annotations

import os

import torch

from wsss.checkpoints import check_state_dict, file_sha256, read_state_dict
from wsss.errors import ConfigError
from wsss.models.cam_net import CameraReadyCAMNet, CAMNet

BACKBONE, OUTPUT_STRIDE = "resnet50", 16  # strides (2, 2, 2, 1) in every reference network
IMPROVED = "IRN net/resnet50_cam.Net / CLIMS net/resnet50_clims.CLIMS"
CAMERA_READY = "CLIMS camera-ready models/clip_resnet.CLIMS"

# Where each layout keeps each part of the network, as CAMNet names it. IRN / CLIMS improved: the
# ResNet under ``resnet50``, again under stage1 = Sequential(conv1, bn1, relu, maxpool, layer1) and
# stage2..4 wrapping layer2..4, and again under backbone = ModuleList([stage1..4]); the classifier
# also under newly_added = ModuleList([classifier]). Camera-ready: the ResNet's parts at the top
# level, then cam_head.
_PROJECT_PARTS = {"conv1": "backbone.stem.0.", "bn1": "backbone.stem.1."}
_PROJECT_PARTS |= {f"layer{i}": f"backbone.layer{i}." for i in range(1, 5)}
_STAGE_PARTS = [(1, 0, "conv1"), (1, 1, "bn1"), (1, 4, "layer1"), (2, 0, "layer2"), (3, 0, "layer3"), (4, 0, "layer4")]
PREFIXES = {
    IMPROVED: [
        *((f"resnet50.{part}.", ours) for part, ours in _PROJECT_PARTS.items()),
        *((f"stage{stage}.{index}.", _PROJECT_PARTS[part]) for stage, index, part in _STAGE_PARTS),
        *((f"backbone.{stage - 1}.{index}.", _PROJECT_PARTS[part]) for stage, index, part in _STAGE_PARTS),
        ("classifier.", "classifier."),
        ("newly_added.0.", "classifier."),
    ],
    CAMERA_READY: [*((f"{part}.", ours) for part, ours in _PROJECT_PARTS.items()), ("cam_head.", "cam_head.")],
}
NETWORKS = {IMPROVED: CAMNet, CAMERA_READY: CameraReadyCAMNet}


def detect_layout(keys: list[str]) -> str:
    """The camera-ready layout if the keys hold its ``cam_head``, else IRN's."""
    return CAMERA_READY if any(key.startswith("cam_head.") for key in keys) else IMPROVED


def project_name(key: str, layout: str = IMPROVED) -> str | None:
    """This project's key for a key of ``layout``, None if the layout has no such key."""
    for prefix, ours in PREFIXES[layout]:
        if key.startswith(prefix):
            return ours + key.removeprefix(prefix)
    return None


def convert_released_cam(
    state: dict[str, torch.Tensor], num_classes: int, source: str
) -> tuple[dict[str, torch.Tensor], str]:
    """A reference CAM network's state dict under this project's keys, checked strictly against the
    network of its layout, and that layout. DataParallel's ``module.`` prefix is dropped.

    ``source`` names the file in errors: keys outside the layout, copies of one tensor that differ,
    missing tensors, wrong shapes (a classifier for another number of classes, say).
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
        expected = NETWORKS[layout](num_classes, BACKBONE, OUTPUT_STRIDE).state_dict()
    check_state_dict(converted, expected, source, what=f"{layout} with {num_classes} classes")
    return converted, layout


def read_released_cam(path: str | os.PathLike, num_classes: int) -> tuple[CAMNet, dict]:
    """The CAM network a released file holds and its provenance (file, size, sha256, layout)."""
    state, layout = convert_released_cam(read_state_dict(path), num_classes, str(path))
    model = NETWORKS[layout](num_classes, BACKBONE, OUTPUT_STRIDE)
    model.load_state_dict(state, strict=False)  # num_batches_tracked may be absent; all else checked above
    provenance = {"file": str(path), "bytes": os.path.getsize(path), "sha256": file_sha256(path), "layout": layout}
    return model, provenance
