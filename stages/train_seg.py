"""Stage: train the DeepLab segmenter (mmsegmentation) on the pseudo-labels."""

import json
import logging
import shutil
import time
from pathlib import Path

import torch

from wsss.data.images import image_size
from wsss.data.manifest import DatasetManifest
from wsss.data.voc_dataset import VOCDataset
from wsss.data.voc_writer import write_split
from wsss.device import channels_last, pick_device
from wsss.errors import DatasetError
from wsss.io import write_json
from wsss.launch import is_main
from wsss.models.cam_net import cam_backbone_state
from wsss.models.seg_resume import prepare_work_dir
from wsss.models.segmenter import (
    SegmenterSettings,
    TrainingPlan,
    register_modules,
    settings_to_meta,
    training_config,
    trust_own_checkpoints,
)
from wsss.models.weights import check_resnet_weights
from wsss.stage import run_stage
from wsss.training import content_fingerprint, loss_curve, save_model

log = logging.getLogger("train_seg")


def _check_labels(dataset: VOCDataset, labels: Path) -> None:
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


def _cam_backbone_weights(cam_checkpoint: str, path: Path) -> str:
    """The CAM network's trained ResNet as a torchvision-layout state dict file (mmseg's ResNet reads that layout)."""
    state, _ = cam_backbone_state(cam_checkpoint)
    renamed = {"stem.0.": "conv1.", "stem.1.": "bn1."}  # ResNetBackbone's stem -> torchvision's names
    weights = {}
    for key, value in state.items():
        for old, new in renamed.items():
            key = new + key.removeprefix(old) if key.startswith(old) else key
        weights[key] = value
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(weights, path)
    return str(path)


def train_seg(
    root: str,
    manifest: str,
    labels: str,
    checkpoint: str,
    history: str,
    cam_checkpoint: str | None = None,
    split: str = "train",
    model: str = "deeplabv2",
    backbone: str = "resnet101",
    pretrained: str | None = None,
    freeze_bn: bool = True,
    output_stride: int = 8,
    iterations: int = 30000,
    batch_size: int = 10,
    accumulation: int = 2,
    crop_size: int = 321,
    loss: str = "balanced",
    msc_scales: tuple[float, ...] = (0.5, 0.75),
    loss_resolution: str = "logits",
    augmentation: str = "deeplabv2",
    scale_factors: tuple[float, ...] = (0.5, 0.75, 1.0, 1.25, 1.5, 1.75, 2.0),
    base_size: int = 512,
    scale_range: tuple[float, float] = (0.5, 2.0),
    optimizer: str = "sgd",
    lr: float = 2.5e-4,
    head_lr_mult: float = 10.0,
    head_bias_lr_mult: float = 20.0,
    head_bias_weight_decay: bool = False,
    momentum: float = 0.9,
    weight_decay: float = 5e-4,
    checkpoint_interval: int = 1000,
    amp: bool = True,
    seed: int = 0,
    devices: int = 1,
    threads: int = 1,
) -> None:
    """Train on ``split``'s images with ``labels/<id>.png``; the final weights go to ``checkpoint``.

    mmengine keeps its resume state in ``<checkpoint>.work/``, removed once training finishes; a
    rerun resumes from it only if its settings and inputs are the same and its checkpoint is the
    one recorded when saved (see :mod:`wsss.models.seg_resume`), else it starts afresh.
    ``pretrained`` is a torchvision ResNet weights file or URL, ``"cam"`` for the backbone of the
    CAM network in ``cam_checkpoint`` (trained on this dataset's image labels), or None.
    ``devices`` > 1 trains in that many processes through mmengine's pytorch launcher.
    """
    settings_key = {k: v for k, v in locals().items() if k not in ("threads", "devices")}  # identifies a resumable run
    from mmengine.config import Config
    from mmengine.model import is_model_wrapper
    from mmengine.runner import Runner

    description = DatasetManifest.load(manifest)
    dataset = VOCDataset(root, description, split)
    _check_labels(dataset, Path(labels))
    settings = SegmenterSettings(
        model, backbone, description.num_classes + 1, tuple(description.class_names), freeze_bn, output_stride
    )
    plan = TrainingPlan(
        iterations=iterations,
        batch_size=batch_size,
        accumulation=accumulation,
        crop_size=crop_size,
        loss=loss,
        msc_scales=tuple(msc_scales),
        loss_resolution=loss_resolution,
        augmentation=augmentation,
        scale_factors=tuple(scale_factors),
        base_size=base_size,
        scale_range=tuple(scale_range),
        optimizer=optimizer,
        lr=lr,
        head_lr_mult=head_lr_mult,
        head_bias_lr_mult=head_bias_lr_mult,
        head_bias_weight_decay=head_bias_weight_decay,
        momentum=momentum,
        weight_decay=weight_decay,
        checkpoint_interval=min(checkpoint_interval, iterations),
        amp=amp,
        seed=seed,
    )
    device = pick_device()
    work_dir = Path(f"{checkpoint}.work")
    # Resume only a run with the same settings and inputs, from a checkpoint it recorded (seg_resume).
    inputs = {"manifest": manifest, "labels": labels, "cam_checkpoint": cam_checkpoint, "pretrained": pretrained}
    key = {
        "settings": json.loads(json.dumps(settings_key, default=str)),
        "inputs": {name: content_fingerprint(path) for name, path in inputs.items()},
    }
    # Rank 0 prepares the work folder (set-aside files, initial weights, id list); the others wait.
    resumed_from = prepare_work_dir(work_dir, key) if is_main() else None
    register_modules()
    trust_own_checkpoints(work_dir)
    if pretrained == "cam":
        if not cam_checkpoint:
            raise ValueError("segmenter.pretrained 'cam' needs the CAM checkpoint (input cam_checkpoint)")
        initial_weights = str(work_dir / "cam_backbone.pth")
        if is_main():
            _cam_backbone_weights(cam_checkpoint, work_dir / "cam_backbone.pth")
    else:
        initial_weights = pretrained
    if initial_weights and "://" not in initial_weights and is_main():  # mmseg would load it leniently, mid-run
        check_resnet_weights(initial_weights, backbone)
    id_file = work_dir / f"{split}.txt"  # the id list mmseg's dataset reads
    if is_main():
        write_split(id_file, dataset.ids)
    if devices > 1:
        torch.distributed.barrier()
    config = training_config(
        settings,
        plan,
        image_dir=str(Path(root) / description.image_dir),
        image_suffix=description.image_suffix,
        label_dir=str(Path(labels)),
        id_file=str(id_file),
        work_dir=str(work_dir),
        device=device,
        workers=threads,
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
    save_model(checkpoint, trained, {**settings_to_meta(settings), "pretrained": pretrained, "iterations": iterations})
    losses = runner.message_hub.get_scalar("train/loss")
    loss = losses.current()
    write_json(
        history,
        {
            "iterations": iterations,
            "resumed": resumed_from is not None,
            "resumed_from_iteration": None if resumed_from is None else resumed_from // accumulation,
            "seconds": round(seconds, 1),
            "iterations_per_second": None if resumed_from is not None else round(iterations / seconds, 3),
            "final_loss": round(float(loss), 4),
            "curve": loss_curve(losses.data[0], first_iteration=iterations - len(losses.data[0]) + 1),
            "device": str(device),
            "amp": config["optim_wrapper"]["type"] != "OptimWrapper",
            "backbone_init": pretrained or "random",
            "peak_cuda_memory_gb": round(torch.cuda.max_memory_allocated() / 2**30, 2)
            if device.type == "cuda"
            else None,
        },
    )
    shutil.rmtree(work_dir, ignore_errors=True)
    log.info("%s-%s: %d iterations in %.0f s (loss %.3f) -> %s", model, backbone, iterations, seconds, loss, checkpoint)


if __name__ == "__main__":
    run_stage(train_seg, globals().get("snakemake"))
