"""Stage: train the baseline CAM network (GAP + 1x1 classifier, multilabel soft-margin loss)."""

import json
import logging
from pathlib import Path

import torch

from wsss.clims.losses import multilabel_soft_margin_loss
from wsss.data.manifest import DatasetManifest
from wsss.data.training_data import AugmentedCrops, normalize_imagenet, training_loader
from wsss.data.voc_dataset import VOCDataset
from wsss.device import autocast, channels_last, pick_device, precision_plan
from wsss.distributed import parallel
from wsss.models.cam_net import CAMNet
from wsss.stage import run_stage
from wsss.training import ResumableRun, finish_training, make_optimizer, seed_everything, train_epochs

log = logging.getLogger("train_cam")


def train_cam(
    root: str,
    manifest: str,
    checkpoint: str,
    history: str,
    split: str = "train",
    backbone: str = "resnet50",
    output_stride: int = 16,
    pretrained: str | None = None,
    epochs: int = 5,
    batch_size: int = 16,
    crop_size: int = 512,
    resize_long: tuple[int, int] = (320, 640),
    crop_padding: str = "reference",
    optimizer: str = "sgd",
    lr: float = 0.1,
    head_lr_mult: float = 10.0,
    weight_decay: float = 1e-4,
    momentum: float = 1e-4,
    freeze_bn: bool = True,
    precision: str = "reference",
    seed: int = 0,
    dataset_summary: str | None = None,
    devices: int = 1,
    threads: int = 1,
) -> None:
    """Train on image-level labels of ``split``; write the model to ``checkpoint`` and losses to ``history``.

    ``dataset_summary`` (from check_dataset, which decodes every file first) is only logged.
    ``devices`` > 1 trains in that many processes (torchrun, DDP) on the same global batch.
    """
    settings = {
        k: v for k, v in locals().items() if k not in ("threads", "devices", "dataset_summary")
    }  # identifies a resumable run
    if dataset_summary:
        counts = json.loads(Path(dataset_summary).read_text())["splits"][split]["images_per_class"]
        log.info("images per class in %s: %s", split, counts)
    seed_everything(seed)
    device = pick_device()
    network_autocast = precision_plan(precision, device).network_autocast
    description = DatasetManifest.load(manifest)
    data = AugmentedCrops(
        VOCDataset(root, description, split),
        crop_size,
        tuple(resize_long),
        seed,
        crop_padding=crop_padding,
    )
    model = CAMNet(description.num_classes, backbone, output_stride, pretrained, fixed_batchnorm=freeze_bn)
    model = channels_last(model.to(device))
    model.backbone.freeze_stem()
    classify = parallel(model, "logits", device)
    backbone_params, head_params = model.parameter_groups()
    opt = make_optimizer(
        optimizer,
        [{"params": backbone_params, "lr": lr}, {"params": head_params, "lr": lr * head_lr_mult}],
        weight_decay,
        momentum,
    )
    loader = training_loader(data, batch_size, seed, device, threads)
    run = ResumableRun(f"{checkpoint}.resume", settings, {"manifest": manifest, "pretrained": pretrained})

    def batch_loss(batch: dict) -> tuple[torch.Tensor, dict]:
        with autocast(device, network_autocast):
            logits = classify(channels_last(normalize_imagenet(batch["image"].to(device, non_blocking=True))))
        return multilabel_soft_margin_loss(logits.float(), batch["labels"].to(device)), {}

    records, first_epoch, seconds = train_epochs(model, opt, loader, epochs, run, batch_loss)
    meta = {"num_classes": description.num_classes, "backbone": backbone, "output_stride": output_stride}
    images = (epochs - first_epoch) * len(loader) * batch_size
    rate = finish_training(run, checkpoint, model, meta, history, records, images, seconds, device)
    log.info("trained %d epochs in %.0f s (%.1f images/s) -> %s", epochs - first_epoch, seconds, rate, checkpoint)


if __name__ == "__main__":
    run_stage(train_cam, globals().get("snakemake"))
