"""Training the segmenter with mmengine: checks before the first step, the run, and its history.

The mmengine config comes from :func:`wsss.models.segmenter.training_config`; resuming is guarded
by :mod:`wsss.models.seg_resume`. The training stage only parses its inputs and calls
:func:`train_segmenter`.
"""

from __future__ import annotations

import json
import logging
import shutil
import time
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import torch

from wsss.checkpoints import check_resnet_weights, content_fingerprint, save_model
from wsss.data.images import image_size
from wsss.data.voc_dataset import VOCDataset
from wsss.data.voc_writer import write_split
from wsss.device import channels_last, pick_device
from wsss.errors import ConfigError, DatasetError
from wsss.io import write_json
from wsss.launch import is_main
from wsss.models.cam_net import cam_backbone_state
from wsss.models.deeplab_caffe import read_deeplab_caffe_resnet
from wsss.models.seg_resume import prepare_work_dir
from wsss.models.segmenter import (
    SegmenterSettings,
    TrainingPlan,
    register_modules,
    settings_to_meta,
    training_config,
    trust_own_checkpoints,
)
from wsss.named_weights import is_named, weights_file
from wsss.training import loss_curve

log = logging.getLogger(__name__)
# ResNetBackbone's stem -> torchvision's names (mmseg's ResNet reads torchvision's layout).
TORCHVISION_STEM = {"stem.0.": "conv1.", "stem.1.": "bn1."}


def check_pseudo_labels(dataset: VOCDataset, labels: Path) -> None:
    """Fail before training, naming the folder, the first ids or the file, when pseudo-labels are
    missing or not the size of their (EXIF-turned) image: mmseg would crop them out of register silently."""
    if not labels.is_dir():
        raise DatasetError(f"{labels}: pseudo-label folder is missing (run make_pseudo_labels first)")
    missing = [i for i in dataset.ids if not (labels / f"{i}.png").is_file()]
    if missing:
        raise DatasetError(
            f"{labels}: no pseudo-label for {len(missing)} of {len(dataset)} {dataset.split} images, e.g. {missing[:3]}"
        )
    for image_id in dataset.ids:
        label_size, expected = image_size(labels / f"{image_id}.png"), image_size(dataset.image_path(image_id))
        if label_size != expected:
            raise DatasetError(
                f"{labels / f'{image_id}.png'}: pseudo-label is {label_size[1]}x{label_size[0]} "
                f"but its image is {expected[1]}x{expected[0]} (as read, turned by its EXIF orientation)"
            )


def save_cam_backbone(cam_checkpoint: str, path: Path) -> str:
    """The CAM network's trained ResNet as a torchvision-layout state dict file, for mmseg's ResNet."""
    state, _ = cam_backbone_state(cam_checkpoint)
    weights = {}
    for key, value in state.items():
        for old, new in TORCHVISION_STEM.items():
            key = new + key.removeprefix(old) if key.startswith(old) else key
        weights[key] = value
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(weights, path)
    return str(path)


def save_deeplab_caffe_backbone(pretrained: str, backbone: str, path: Path) -> None:
    """deeplab-pytorch's Caffe ResNet file ``pretrained``, checked strictly, in the torchvision layout mmseg reads."""
    if "://" in pretrained or is_named(pretrained):
        raise ConfigError(f"segmenter.pretrained {pretrained}: init deeplab_caffe reads a local file")
    weights = read_deeplab_caffe_resnet(pretrained, backbone)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(weights, path)


def train_segmenter(
    dataset: VOCDataset,
    settings: SegmenterSettings,
    plan: TrainingPlan,
    *,
    manifest_file: str,
    labels: str,
    checkpoint: str,
    history: str,
    pretrained: str | None,
    cam_checkpoint: str | None,
    resume_key: Mapping,
    devices: int,
    workers: int,
) -> None:
    """Train on ``dataset``'s images (described by ``manifest_file``) with ``labels/<id>.png``; the
    final weights go to ``checkpoint``.

    mmengine keeps its resume state in ``<checkpoint>.work/``, removed once training finishes; a
    rerun resumes from it only if ``resume_key`` (the run's settings) and the content of its inputs
    are the same and its checkpoint is the one recorded when saved, else it starts afresh.
    ``pretrained`` is a ResNet weights file (or URL) in the layout ``settings.init`` names, ``"cam"``
    for the backbone of the CAM network in ``cam_checkpoint``, or None. ``devices`` > 1: one process
    per device (torchrun).
    """
    from mmengine.config import Config
    from mmengine.model import is_model_wrapper
    from mmengine.runner import Runner

    check_pseudo_labels(dataset, Path(labels))
    device = pick_device()
    work_dir = Path(f"{checkpoint}.work")
    inputs = {"manifest": manifest_file, "labels": labels, "cam_checkpoint": cam_checkpoint}
    key = {
        "settings": json.loads(json.dumps(dict(resume_key), default=str)),
        "inputs": {name: content_fingerprint(path) for name, path in {**inputs, "pretrained": pretrained}.items()},
    }
    # Rank 0 prepares the work folder (set-aside files, initial weights, id list); the others wait.
    resumed_from = prepare_work_dir(work_dir, key) if is_main() else None
    register_modules()
    trust_own_checkpoints(work_dir)
    if pretrained == "cam":
        if not cam_checkpoint:
            raise ValueError("segmenter.pretrained 'cam' needs the CAM checkpoint (input cam_checkpoint)")
        if settings.init != "torchvision":
            raise ConfigError(f"segmenter.pretrained 'cam' is a torchvision-style ResNet, not init {settings.init}")
        initial_weights = str(work_dir / "cam_backbone.pth")
        if is_main():
            save_cam_backbone(cam_checkpoint, work_dir / "cam_backbone.pth")
    elif pretrained and settings.init == "deeplab_caffe":
        initial_weights = str(work_dir / "deeplab_caffe_backbone.pth")
        if is_main():
            save_deeplab_caffe_backbone(pretrained, settings.backbone, work_dir / "deeplab_caffe_backbone.pth")
    else:
        initial_weights = weights_file(pretrained) if pretrained else None  # a name: its cached file
    if initial_weights and "://" not in initial_weights and is_main():  # mmseg would load it leniently, mid-run
        check_resnet_weights(initial_weights, settings.backbone)
    id_file = work_dir / f"{dataset.split}.txt"  # the id list mmseg's dataset reads
    if is_main():
        write_split(id_file, dataset.ids)
    if devices > 1:
        torch.distributed.barrier()
    config = training_config(
        settings,
        plan,
        image_dir=str(dataset.root / dataset.manifest.image_dir),
        image_suffix=dataset.manifest.image_suffix,
        label_dir=str(Path(labels)),
        id_file=str(id_file),
        work_dir=str(work_dir),
        device=device,
        workers=workers,
        pretrained=initial_weights,
    )
    runner = Runner.from_cfg(Config(config))
    channels_last(runner.model)  # before train() loads the initial weights and builds the optimiser
    for handler in logging.getLogger().handlers:  # mmengine's messages into the rule's log file too
        if isinstance(handler, logging.FileHandler):
            runner.logger.addHandler(handler)
    start = time.perf_counter()
    runner.train()
    seconds = time.perf_counter() - start
    if not is_main():
        return
    trained = runner.model.module if is_model_wrapper(runner.model) else runner.model
    meta = {**settings_to_meta(settings), "pretrained": pretrained, "iterations": plan.iterations}
    save_model(checkpoint, trained, meta)
    losses = runner.message_hub.get_scalar("train/loss")
    loss = losses.current()
    # mmengine's IterTimerHook times every iteration; the median after the first two leaves out the
    # warm-up (cuDNN's algorithm search, worker start).
    iteration_seconds = runner.message_hub.get_scalar("train/time").data[0]
    steady = iteration_seconds[2:] if len(iteration_seconds) > 2 else iteration_seconds
    write_json(
        history,
        {
            "iterations": plan.iterations,
            "resumed": resumed_from is not None,
            "resumed_from_iteration": None if resumed_from is None else resumed_from // plan.accumulation,
            "seconds": round(seconds, 1),
            "iterations_per_second": None if resumed_from is not None else round(plan.iterations / seconds, 3),
            "median_batch_seconds": round(float(np.median(steady)), 4),
            "final_loss": round(float(loss), 4),
            "curve": loss_curve(losses.data[0], first_iteration=plan.iterations - len(losses.data[0]) + 1),
            "device": str(device),
            "amp": config["optim_wrapper"]["type"] != "OptimWrapper",
            "backbone_init": pretrained or "random",
            "peak_cuda_memory_gb": round(torch.cuda.max_memory_allocated() / 2**30, 2)
            if device.type == "cuda"
            else None,
        },
    )
    shutil.rmtree(work_dir, ignore_errors=True)
    log.info(
        "%s-%s: %d iterations in %.0f s (loss %.3f) -> %s",
        settings.model,
        settings.backbone,
        plan.iterations,
        seconds,
        loss,
        checkpoint,
    )
