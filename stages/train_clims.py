"""Stage: CLIMS training of the CAM network against a frozen CLIP (OTM + BTM + CBS + REG)."""

import logging

import torch

from wsss.clims.losses import clims_loss, positive_pairs
from wsss.config import schema_default, stage_settings
from wsss.data.manifest import DatasetManifest
from wsss.data.training_data import AugmentedCrops, normalize_imagenet, training_loader
from wsss.data.voc_dataset import VOCDataset
from wsss.device import autocast, channels_last, pick_device, precision_plan
from wsss.distributed import parallel
from wsss.models.cam_net import cam_net_from_state, read_cam_checkpoint
from wsss.models.clip_scorer import ClipScorer, load_clip
from wsss.stage import run_stage
from wsss.training import ResumableRun, finish_training, make_optimizer, seed_everything, train_epochs

log = logging.getLogger("train_clims")


def train_clims(
    root: str,
    manifest: str,
    baseline: str,
    checkpoint: str,
    history: str,
    clip_model: str,
    clip_weights: str | list | None = None,
    clip_download_root: str | None = schema_default("clip", "download_root"),
    clip_input_mode: str = schema_default("clip", "input_mode"),
    split: str = "train",
    devices: int = 1,
    threads: int = 1,
    **clims: object,
) -> None:
    """Initialise from the baseline CAM checkpoint and train with the CLIMS losses.

    ``clims``: keys of the config's ``clims`` section, defined (with their defaults) by the schema
    alone; keys left out take the schema's defaults.
    ``clip_model`` is an OpenAI model name or a checkpoint path; in the latter case the workflow
    also passes the same path as ``clip_weights`` so that Snakemake orders the rules.
    ``devices`` > 1 trains in that many processes (torchrun, DDP, SyncBatchNorm on GPUs) on the
    same global batch.
    """
    settings = stage_settings("clims", clims)
    paths = dict(root=root, manifest=manifest, baseline=baseline, checkpoint=checkpoint, history=history)
    clip = dict(
        clip_model=clip_model,
        clip_weights=clip_weights,
        clip_download_root=clip_download_root,
        clip_input_mode=clip_input_mode,
    )
    resume_key = {**paths, **clip, "split": split, **vars(settings)}  # identifies a resumable run
    if clip_weights and str(clip_weights) != clip_model:
        raise ValueError(f"clip_weights {clip_weights} and clip_model {clip_model} must name the same checkpoint")
    state = read_cam_checkpoint(baseline)  # before CLIP: fails fast
    seed_everything(settings.seed)
    device = pick_device()
    plan = precision_plan(settings.precision, device)
    description = DatasetManifest.load(manifest)
    scorer = ClipScorer(
        load_clip(clip_model, device=device, download_root=clip_download_root),
        description.class_prompts(),
        description.background_texts(),
        clip_input_mode,
        weight_dtype=plan.clip_weights,
        autocast_dtype=plan.clip_autocast,
    ).to(device)
    model = cam_net_from_state(state, baseline)
    with torch.no_grad():  # the baseline's logits can be large enough to saturate the sigmoids
        if settings.classifier_scale is None:
            torch.nn.init.normal_(model.classifier.weight, std=0.01)
        else:
            model.classifier.weight.mul_(settings.classifier_scale)
    channels_last(model.to(device))
    # As the reference's CLIMS network: plain BatchNorm (batch statistics, updated) and a frozen stem.
    model.backbone.freeze_stem()
    probabilities_of = parallel(model, "probabilities", device)
    backbone_params, head_params = model.parameter_groups()
    opt = make_optimizer(
        settings.optimizer,
        [{"params": backbone_params, "lr": settings.lr}, {"params": head_params, "lr": settings.head_lr}],
        settings.weight_decay,
        settings.momentum,
    )
    data = AugmentedCrops(
        VOCDataset(root, description, split),
        settings.crop_size,
        tuple(settings.resize_long),
        settings.seed,
        crop_padding=settings.crop_padding,
    )
    loader = training_loader(data, settings.batch_size, settings.seed, device, threads)
    run = ResumableRun(
        f"{checkpoint}.resume", resume_key, {"manifest": manifest, "baseline": baseline, "clip_model": clip_model}
    )
    weights = {name: getattr(settings, name) for name in ("alpha", "beta", "gamma", "delta", "cbs_threshold")}
    logit_offset = settings.logit_offset

    def batch_loss(batch: dict) -> tuple[torch.Tensor, dict]:
        images = batch["image"].to(device, non_blocking=True)
        with autocast(device, plan.network_autocast):
            probabilities = probabilities_of(channels_last(normalize_imagenet(images)), logit_offset).float()
        image_index, class_index = positive_pairs(batch["labels"].to(device))
        masks = probabilities[image_index, class_index].unsqueeze(1)  # only positive classes are resized
        scores = scorer.score(images[image_index], masks, class_index)
        return clims_loss(scores, probabilities, **weights)

    epochs = settings.epochs
    records, first_epoch, epoch_seconds = train_epochs(model, opt, loader, epochs, run, batch_loss)
    images = (epochs - first_epoch) * len(loader) * settings.batch_size
    # The network's description; a released baseline's provenance is the baseline's, recorded as such.
    meta = {key: value for key, value in state["meta"].items() if key != "released"}
    if "released" in state["meta"]:
        meta["baseline_released"] = state["meta"]["released"]
    rate = finish_training(run, checkpoint, model, meta, history, records, images, epoch_seconds, device)
    log.info(
        "CLIMS: %d epochs in %.0f s (%.1f images/s) -> %s", epochs - first_epoch, sum(epoch_seconds), rate, checkpoint
    )


if __name__ == "__main__":
    run_stage(train_clims, globals().get("snakemake"))
