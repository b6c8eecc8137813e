"""Stage: train IRN's edge and displacement branches on IR labels over a frozen backbone."""

import logging

import torch

from wsss.checkpoints import load_checked
from wsss.config import stage_settings
from wsss.data.manifest import DatasetManifest
from wsss.data.training_data import AugmentedCrops, shrink_labels_like_pil, training_loader
from wsss.data.voc_dataset import VOCDataset
from wsss.device import autocast, channels_last, pick_device, precision_plan
from wsss.distributed import parallel
from wsss.models.backbone import ResNetBackbone
from wsss.models.cam_net import cam_backbone_state
from wsss.models.irn import EdgeDisplacementNet, irn_losses
from wsss.stage import run_stage
from wsss.training import ResumableRun, finish_training, make_optimizer, seed_everything, train_epochs

log = logging.getLogger("train_irn")


def irn_backbone(
    backbone_init: str, depth: str, cam_checkpoint: str | None, pretrained: str | None
) -> tuple[ResNetBackbone, dict]:
    """The frozen backbone: the CAM network's trained one ("cam"), ImageNet weights from a file ("pretrained")
    or random."""
    if backbone_init == "cam":
        state, meta = cam_backbone_state(cam_checkpoint)
        backbone = ResNetBackbone(meta["backbone"], meta["output_stride"])
        load_checked(backbone, state, cam_checkpoint)
        return backbone, {"backbone": meta["backbone"], "output_stride": meta["output_stride"]}
    if backbone_init == "pretrained" and not pretrained:
        raise ValueError("irn.backbone_init is 'pretrained' but irn.pretrained names no weights file")
    return ResNetBackbone(depth, 16, pretrained if backbone_init == "pretrained" else None), {
        "backbone": depth,
        "output_stride": 16,
    }


def train_irn(
    root: str,
    manifest: str,
    ir_labels: str,
    checkpoint: str,
    history: str,
    cam_checkpoint: str | None = None,
    split: str = "train",
    devices: int = 1,
    threads: int = 1,
    **irn: object,
) -> None:
    """Train on the IR labels of ``split``; write the branches and backbone to ``checkpoint``.

    ``irn``: keys of the config's ``irn`` section, defined (with their defaults) by the schema
    alone; keys left out take the schema's defaults.
    ``devices`` > 1 trains in that many processes (torchrun, DDP) on the same global batch.
    """
    settings = stage_settings("irn", irn)
    paths = dict(root=root, manifest=manifest, ir_labels=ir_labels, checkpoint=checkpoint, history=history)
    resume_key = {**paths, "cam_checkpoint": cam_checkpoint, "split": split, **vars(settings)}
    seed_everything(settings.seed)
    device = pick_device()
    network_autocast = precision_plan(settings.precision, device).network_autocast
    description = DatasetManifest.load(manifest)
    trunk, meta = irn_backbone(settings.backbone_init, settings.backbone, cam_checkpoint, settings.pretrained)
    model = channels_last(EdgeDisplacementNet(trunk).to(device))
    branches = parallel(model, "forward", device)
    edge_params, displacement_params = model.branch_parameters()
    opt = make_optimizer(
        settings.optimizer,
        [
            {"params": edge_params, "lr": settings.lr},
            {"params": displacement_params, "lr": settings.lr * settings.displacement_lr_mult},
        ],
        settings.weight_decay,
        settings.momentum,
    )
    resize_long, rescale_range = settings.resize_long, settings.rescale_range
    data = AugmentedCrops(
        VOCDataset(root, description, split),
        settings.crop_size,
        None if resize_long is None else tuple(resize_long),
        settings.seed,
        label_folder=ir_labels,
        rescale_range=None if rescale_range is None else tuple(rescale_range),
        crop_padding=settings.crop_padding,
    )
    loader = training_loader(data, settings.batch_size, settings.seed, device, threads)
    inputs = {
        "manifest": manifest,
        "ir_labels": ir_labels,
        "cam_checkpoint": cam_checkpoint,
        "pretrained": settings.pretrained,
    }
    run = ResumableRun(f"{checkpoint}.resume", resume_key, inputs)
    radius, path, sources = settings.radius, settings.path, settings.pair_sources

    def batch_loss(batch: dict) -> tuple[torch.Tensor, dict]:
        with autocast(device, network_autocast):
            edge_logits, displacement = branches(channels_last(batch["image"].to(device, non_blocking=True)))
        # IR labels at the branches' stride 4, by PIL's nearest-neighbour rule as IRN does.
        labels = shrink_labels_like_pil(batch["label"], edge_logits.shape[-2:]).to(device)
        losses = irn_losses(edge_logits, displacement, labels, radius, path, sources)
        return losses["total"], {name: value.item() for name, value in losses.items() if name != "total"}

    epochs = settings.epochs
    records, first_epoch, epoch_seconds = train_epochs(model, opt, loader, epochs, run, batch_loss)
    images = (epochs - first_epoch) * len(loader) * settings.batch_size
    rate = finish_training(
        run,
        checkpoint,
        model,
        {**meta, "radius": radius, "path": path},
        history,
        records,
        images,
        epoch_seconds,
        device,
    )
    log.info(
        "IRN: %d epochs in %.0f s (%.1f images/s) -> %s", epochs - first_epoch, sum(epoch_seconds), rate, checkpoint
    )


if __name__ == "__main__":
    run_stage(train_irn, globals().get("snakemake"))
