"""Stage: train the baseline CAM network (GAP + 1x1 classifier, multilabel soft-margin loss)."""

import json
import logging
from pathlib import Path

import torch

from wsss.clims.losses import multilabel_soft_margin_loss
from wsss.config import stage_settings
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
    dataset_summary: str | None = None,
    devices: int = 1,
    threads: int = 1,
    **train_cam: object,
) -> None:
    """Train on image-level labels of ``split``; write the model to ``checkpoint`` and losses to ``history``.

    ``train_cam``: keys of the config's ``train_cam`` section, defined (with their defaults) by the
    schema alone; keys left out take the schema's defaults.
    ``dataset_summary`` (from check_dataset, which decodes every file first) is only logged.
    ``devices`` > 1 trains in that many processes (torchrun, DDP) on the same global batch.
    """
    settings = stage_settings("train_cam", train_cam)
    paths = dict(root=root, manifest=manifest, checkpoint=checkpoint, history=history)
    resume_key = {**paths, "split": split, **vars(settings)}  # identifies a resumable run
    if dataset_summary:
        counts = json.loads(Path(dataset_summary).read_text())["splits"][split]["images_per_class"]
        log.info("images per class in %s: %s", split, counts)
    seed_everything(settings.seed)
    device = pick_device()
    network_autocast = precision_plan(settings.precision, device).network_autocast
    description = DatasetManifest.load(manifest)
    data = AugmentedCrops(
        VOCDataset(root, description, split),
        settings.crop_size,
        tuple(settings.resize_long),
        settings.seed,
        crop_padding=settings.crop_padding,
    )
    model = CAMNet(
        description.num_classes,
        settings.backbone,
        settings.output_stride,
        settings.pretrained,
        fixed_batchnorm=settings.freeze_bn,
    )
    model = channels_last(model.to(device))
    model.backbone.freeze_stem()
    classify = parallel(model, "logits", device)
    backbone_params, head_params = model.parameter_groups()
    opt = make_optimizer(
        settings.optimizer,
        [
            {"params": backbone_params, "lr": settings.lr},
            {"params": head_params, "lr": settings.lr * settings.head_lr_mult},
        ],
        settings.weight_decay,
        settings.momentum,
    )
    loader = training_loader(data, settings.batch_size, settings.seed, device, threads)
    run = ResumableRun(f"{checkpoint}.resume", resume_key, {"manifest": manifest, "pretrained": settings.pretrained})

    def batch_loss(batch: dict) -> tuple[torch.Tensor, dict]:
        with autocast(device, network_autocast):
            logits = classify(channels_last(normalize_imagenet(batch["image"].to(device, non_blocking=True))))
        return multilabel_soft_margin_loss(logits.float(), batch["labels"].to(device)), {}

    epochs = settings.epochs
    records, first_epoch, epoch_seconds = train_epochs(model, opt, loader, epochs, run, batch_loss)
    meta = {
        "num_classes": description.num_classes,
        "backbone": settings.backbone,
        "output_stride": settings.output_stride,
    }
    images = (epochs - first_epoch) * len(loader) * settings.batch_size
    rate = finish_training(run, checkpoint, model, meta, history, records, images, epoch_seconds, device)
    log.info(
        "trained %d epochs in %.0f s (%.1f images/s) -> %s", epochs - first_epoch, sum(epoch_seconds), rate, checkpoint
    )


if __name__ == "__main__":
    run_stage(train_cam, globals().get("snakemake"))
