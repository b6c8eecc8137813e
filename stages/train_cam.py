"""Stage: train the baseline CAM network (GAP + 1x1 classifier, multilabel soft-margin loss)."""

import json
import logging
import time
from pathlib import Path

import torch

from wsss.cam_net import CAMNet
from wsss.device import autocast, pick_device
from wsss.losses import multilabel_soft_margin_loss
from wsss.manifest import DatasetManifest
from wsss.stage import run_stage
from wsss.training import ResumableRun, finish_training, make_optimizer, seed_everything, set_poly_lr
from wsss.training_data import AugmentedCrops, normalize_imagenet, training_loader
from wsss.voc_dataset import VOCDataset

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
    resize_long: list | None = None,
    optimizer: str = "sgd",
    lr: float = 0.1,
    head_lr_mult: float = 10.0,
    weight_decay: float = 1e-4,
    freeze_bn: bool = True,
    seed: int = 0,
    dataset_summary: str | None = None,
    threads: int = 1,
) -> None:
    """Train on image-level labels of ``split``; write the model to ``checkpoint`` and losses to ``history``.

    ``dataset_summary`` (from check_dataset, which decodes every file first) is only logged.
    """
    settings = {k: v for k, v in locals().items() if k not in ("threads", "dataset_summary")}  # identifies a resumable run
    if dataset_summary:
        counts = json.loads(Path(dataset_summary).read_text())["splits"][split]["images_per_class"]
        log.info("images per class in %s: %s", split, counts)
    seed_everything(seed)
    torch.set_num_threads(threads)
    device = pick_device()
    description = DatasetManifest.load(manifest)
    data = AugmentedCrops(VOCDataset(root, description, split), crop_size, tuple(resize_long or (320, 640)), seed)
    model = CAMNet(description.num_classes, backbone, output_stride, pretrained).to(device)
    model.backbone.freeze_stem()
    backbone_params, head_params = model.parameter_groups()
    opt = make_optimizer(optimizer, [{"params": backbone_params, "lr": lr}, {"params": head_params, "lr": lr * head_lr_mult}], weight_decay)
    loader = training_loader(data, batch_size, seed, device, threads)
    total_steps = epochs * len(loader)
    run = ResumableRun(f"{checkpoint}.resume", settings)
    first_epoch = run.load(model, opt)
    records, start = [], time.perf_counter()
    for epoch in range(first_epoch, epochs):
        data.epoch = epoch
        model.train()
        if freeze_bn:
            model.backbone.freeze_batchnorm()
        epoch_loss = 0.0
        for step, batch in enumerate(loader):
            set_poly_lr(opt, epoch * len(loader) + step, total_steps)
            with autocast(device):
                logits = model.logits(normalize_imagenet(batch["image"].to(device, non_blocking=True)))
            loss = multilabel_soft_margin_loss(logits.float(), batch["labels"].to(device))
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            epoch_loss += loss.item()
        records.append({"loss": round(epoch_loss / len(loader), 5)})
        log.info("epoch %d/%d loss %.4f (%.0f s)", epoch + 1, epochs, records[-1]["loss"], time.perf_counter() - start)
        run.save(model, opt, epoch + 1)
    seconds = time.perf_counter() - start
    meta = {"num_classes": description.num_classes, "backbone": backbone, "output_stride": output_stride}
    images = (epochs - first_epoch) * len(loader) * batch_size
    rate = finish_training(run, checkpoint, model, meta, history, records, images, seconds, device)
    log.info("trained %d epochs in %.0f s (%.1f images/s) -> %s", epochs - first_epoch, seconds, rate, checkpoint)

if __name__ == "__main__":
    run_stage(train_cam, globals().get("snakemake"))
