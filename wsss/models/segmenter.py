"""The final segmenter: DeepLab (v2 or v3+) built and trained with mmsegmentation / mmengine.

The mmengine config is generated here from the project's settings, so there is no mmseg config
file to keep in sync. Training reads the images (through the project's reader, as every stage)
and a pseudo-label folder (255 ignored); by
default it is CLIMS' DeepLabV2 (balanced loss, MSC inputs, the reference's augmentation and
parameter groups), and mmseg's usual recipe where configured. Inference (single or multi-scale,
max of logits or mean of probabilities, flips, optional dense CRF) is plain torch over the model.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from wsss import distributed, launch
from wsss.checkpoints import read_checkpoint
from wsss.config import schema_defaults, tuple_if_list
from wsss.device import channels_last, fast_bf16
from wsss.errors import ConfigError
from wsss.models.deeplab import max_fused, scale_pyramid_logits
from wsss.models.deeplab_caffe import DEEPLAB_MEAN_BGR
from wsss.palette import IGNORE_INDEX, voc_palette
from wsss.refine.crf import CRFParams, crf_refine_scores

MODELS = ("deeplabv2", "deeplabv3plus")
BACKBONE_DEPTHS = {"resnet18": 18, "resnet34": 34, "resnet50": 50, "resnet101": 101}
# Per output stride: the ResNet stages' strides and dilations (DeepLab's dilated last stages).
STRIDES = {8: ((1, 2, 1, 1), (1, 1, 2, 4)), 16: ((1, 2, 2, 1), (1, 1, 1, 2))}
# mmseg's normalisation: ImageNet mean / std on 0..255 RGB.
PIXEL_MEAN = [123.675, 116.28, 103.53]
PIXEL_STD = [58.395, 57.12, 57.375]


@dataclass(frozen=True)
class InputNormalisation:
    """What the network takes: channel order, and the mean and std (in that order) of 0..255 pixels."""

    bgr: bool
    mean: tuple[float, float, float]
    std: tuple[float, float, float]

    @property
    def mean_bgr(self) -> tuple[float, float, float]:
        return self.mean if self.bgr else self.mean[::-1]


# Per segmenter.init: the ResNet variant its weights were trained as (mmseg's ResNet style) and their input.
RESNET_VARIANTS = {
    "torchvision": ("pytorch", InputNormalisation(False, tuple(PIXEL_MEAN), tuple(PIXEL_STD))),
    "deeplab_caffe": ("caffe", InputNormalisation(True, DEEPLAB_MEAN_BGR, (1.0, 1.0, 1.0))),
}
DEEPLABV2_DILATIONS = (6, 12, 18, 24)
# The reference's test-time CRF (DeepLab's): 10 iterations, pos w 3 / xy 1, bilateral w 4 / xy 67 / rgb 3.
TEST_CRF = CRFParams(
    iterations=10, gaussian_sxy=1, gaussian_compat=3, bilateral_sxy=67, bilateral_srgb=3, bilateral_compat=4
)


@dataclass(frozen=True)
@schema_defaults("segmenter")
class SegmenterSettings:
    """What defines the network (saved with the checkpoint, so a model can be rebuilt anywhere).

    Fields named like a ``segmenter`` config key take their default from the schema."""

    model: str
    backbone: str
    num_classes: int = 21
    class_names: tuple[str, ...] = field(default_factory=tuple)
    freeze_bn: bool
    output_stride: int
    init: str
    contract_dilation: bool
    stem_pool_ceil_mode: bool

    def __post_init__(self):
        if self.init not in RESNET_VARIANTS:
            raise ValueError(f"segmenter.init must be one of {tuple(RESNET_VARIANTS)}, got {self.init!r}")
        if self.model not in MODELS:
            raise ValueError(f"segmenter.model must be one of {MODELS}, got {self.model!r}")
        if self.backbone not in BACKBONE_DEPTHS:
            raise ValueError(f"segmenter.backbone must be one of {tuple(BACKBONE_DEPTHS)}, got {self.backbone!r}")
        if self.output_stride not in STRIDES:
            raise ValueError(f"segmenter.output_stride must be 8 or 16, got {self.output_stride!r}")


def register_modules() -> None:
    """Import mmseg's modules into its registries and add the project's (idempotent)."""
    from mmseg.utils import register_all_modules

    register_all_modules(init_default_scope=True)
    importlib.import_module("wsss.models.mmseg_modules")  # registers DeepLabV2Head and co. on import


LOSSES = ("balanced", "cross_entropy")
LOSS_RESOLUTIONS = ("logits", "labels")
AUGMENTATIONS = ("deeplabv2", "mmseg")


@dataclass(frozen=True)
@schema_defaults("segmenter")
class TrainingPlan:
    """Schedule, loss and augmentation of one training run; every field is a ``segmenter`` config key,
    its default the schema's (the reference's DeepLabV2 on VOC)."""

    iterations: int
    batch_size: int
    accumulation: int
    crop_size: int
    loss: str
    msc_scales: tuple[float, ...]
    loss_resolution: str
    augmentation: str
    scale_factors: tuple[float, ...]
    base_size: int
    scale_range: tuple[float, float]
    optimizer: str
    lr: float
    head_lr_mult: float
    head_bias_lr_mult: float
    head_bias_weight_decay: bool
    momentum: float
    weight_decay: float
    lr_step: int
    checkpoint_interval: int
    amp: bool
    seed: int

    def __post_init__(self):
        for key, value, allowed in (
            ("loss", self.loss, LOSSES),
            ("loss_resolution", self.loss_resolution, LOSS_RESOLUTIONS),
            ("augmentation", self.augmentation, AUGMENTATIONS),
        ):
            if value not in allowed:
                raise ValueError(f"segmenter.{key} must be one of {allowed}, got {value!r}")
        largest = int(self.base_size * self.scale_range[1])
        if self.augmentation == "mmseg" and self.crop_size > largest:
            raise ValueError(
                f"segmenter.crop_size {self.crop_size} is larger than the training images ever get "
                f"(base_size {self.base_size} x largest scale {self.scale_range[1]} = {largest} px)"
            )


def segmenter_from_config(section: Mapping, class_names: Sequence[str]) -> tuple[SegmenterSettings, TrainingPlan]:
    """The network and training plan of a validated ``segmenter`` config section for a dataset with
    ``class_names``; ``pretrained`` (the initial weights) is the training stage's to resolve."""
    network = {f.name for f in fields(SegmenterSettings)} - {"num_classes", "class_names"}
    schedule = {f.name for f in fields(TrainingPlan)}
    unknown = sorted(set(section) - network - schedule - {"pretrained"})
    if unknown:
        raise ConfigError(f"segmenter: keys {unknown} are neither network settings nor training plan")

    settings = SegmenterSettings(
        **{key: tuple_if_list(section[key]) for key in network},
        num_classes=len(class_names) + 1,
        class_names=tuple(class_names),
    )
    return settings, TrainingPlan(**{key: tuple_if_list(section[key]) for key in schedule})


def model_config(
    settings: SegmenterSettings,
    crop_size: int | None = None,
    pretrained: str | None = None,
    plan: TrainingPlan | None = None,
) -> dict:
    """The mmseg segmentor config: a dilated ResNet, the chosen head, and ``plan``'s loss (default plan's if None)."""
    plan = plan or TrainingPlan()
    depth = BACKBONE_DEPTHS[settings.backbone]
    widths = [64, 128, 256, 512] if depth < 50 else [256, 512, 1024, 2048]
    norm = {"type": "BN", "requires_grad": not settings.freeze_bn}
    style, normalisation = RESNET_VARIANTS[settings.init]
    backbone = {
        "type": "StemPoolResNet",  # mmseg's ResNet: torchvision's layout, torchvision's weights load as they are
        "depth": depth,
        "num_stages": 4,
        "out_indices": (0, 1, 2, 3),
        "strides": STRIDES[settings.output_stride][0],
        "dilations": STRIDES[settings.output_stride][1],
        "norm_cfg": norm,
        "norm_eval": settings.freeze_bn,
        "style": style,
        "contract_dilation": settings.contract_dilation,
        "stem_pool_ceil_mode": settings.stem_pool_ceil_mode,
    }
    if pretrained:
        backbone["init_cfg"] = {"type": "Pretrained", "checkpoint": pretrained}
    loss = (
        {"type": "BalancedCrossEntropyLoss"}
        if plan.loss == "balanced"
        else {"type": "CrossEntropyLoss", "use_sigmoid": False, "loss_weight": 1.0, "avg_non_ignore": True}
    )
    common = {
        "num_classes": settings.num_classes,
        "in_index": 3,
        "align_corners": False,
        "ignore_index": IGNORE_INDEX,
        "loss_decode": loss,
    }
    if settings.model == "deeplabv2":
        head = {
            "type": "DeepLabV2Head",
            "in_channels": widths[3],
            "channels": settings.num_classes,
            "dilations": DEEPLABV2_DILATIONS,
            **common,
        }
    else:
        head = {
            "type": "DepthwiseSeparableASPPHead",
            "in_channels": widths[3],
            "channels": widths[3] // 4,
            "dilations": (1, 12, 24, 36),
            "c1_in_channels": widths[0],
            "c1_channels": 48,
            "dropout_ratio": 0.1,
            "norm_cfg": norm,
            **common,
        }
    preprocessor = {  # the pipeline hands on BGR images
        "type": "SegDataPreProcessor",
        "mean": list(normalisation.mean),
        "std": list(normalisation.std),
        "bgr_to_rgb": not normalisation.bgr,
        "pad_val": 0,
        "seg_pad_val": IGNORE_INDEX,
    }
    if crop_size:
        preprocessor["size"] = (crop_size, crop_size)
    return {
        "type": "MultiScaleEncoderDecoder",
        "msc_scales": tuple(plan.msc_scales),
        "loss_at_logits": plan.loss_resolution == "logits",
        "data_preprocessor": preprocessor,
        "backbone": backbone,
        "decode_head": head,
        "train_cfg": {},
        "test_cfg": {"mode": "whole"},
    }


def train_pipeline(plan: TrainingPlan, mean_bgr: Sequence[float]) -> list[dict]:
    """mmseg's training transforms for ``plan.augmentation``; ``mean_bgr`` is the network's input mean.

    deeplabv2 (the reference's): one of ``scale_factors`` times the image's own size (bilinear,
    labels nearest; mmcv rounds the size where the reference truncates it), padded at the bottom
    and right to the crop with the mean colour and the ignore label, a random crop, an h-flip.
    The image is float from the start so the padding is exactly the mean (0 once normalised).
    mmseg: a factor drawn from ``scale_range`` times ``base_size`` (RandomResize), a random crop
    with at most 75% of one class, an h-flip; the data preprocessor pads after the flip.
    """
    crop = (plan.crop_size, plan.crop_size)
    if plan.augmentation == "deeplabv2":
        return [
            {"type": "LoadImageWithProjectReader", "to_float32": True},
            {"type": "LoadAnnotations"},
            {
                "type": "RandomChoice",
                "transforms": [
                    [{"type": "Resize", "scale_factor": factor, "keep_ratio": False}] for factor in plan.scale_factors
                ],
            },
            {"type": "RandomCrop", "crop_size": crop},
            {"type": "Pad", "size": crop, "pad_val": {"img": tuple(mean_bgr), "seg": IGNORE_INDEX}},
            {"type": "RandomFlip", "prob": 0.5},
            {"type": "PackSegInputs"},
        ]
    return [
        {"type": "LoadImageWithProjectReader"},
        {"type": "LoadAnnotations"},
        {
            "type": "RandomResize",
            "scale": (4 * plan.base_size, plan.base_size),
            "ratio_range": tuple(plan.scale_range),
            "keep_ratio": True,
        },
        {"type": "RandomCrop", "crop_size": crop, "cat_max_ratio": 0.75},
        {"type": "RandomFlip", "prob": 0.5},
        {"type": "PackSegInputs"},
    ]


def head_bias_names(settings: SegmenterSettings) -> list[str]:
    """Parameter names of the head's classifier biases (DeepLabV2's ASPP convs; DeepLabV3+'s conv_seg)."""
    if settings.model == "deeplabv2":
        return [f"decode_head.aspp.{i}.bias" for i in range(len(DEEPLABV2_DILATIONS))]
    return ["decode_head.conv_seg.bias"]  # its other convs are bias-free (followed by BN)


def optim_wrapper_config(settings: SegmenterSettings, plan: TrainingPlan, device: torch.device) -> dict:
    """Optimiser and parameter groups: backbone at lr, head weights at ``head_lr_mult``, head biases apart.

    The reference's DeepLabV2: ASPP weights 10x, ASPP biases 20x without weight decay; frozen
    BatchNorm parameters (``freeze_bn``) are in no group at all.
    """
    cuda = device.type == "cuda"
    mixed = plan.amp and fast_bf16(device) is not None  # CUDA, or a CPU with native bf16
    optimizer = (
        {"type": "SGD", "lr": plan.lr, "momentum": plan.momentum, "weight_decay": plan.weight_decay}
        if plan.optimizer == "sgd"
        else {"type": "ChannelsLastAdamW", "lr": plan.lr, "weight_decay": plan.weight_decay, "fused": True}
    )
    bias_group = {"lr_mult": plan.head_bias_lr_mult, "decay_mult": 1.0 if plan.head_bias_weight_decay else 0.0}
    custom_keys = {"decode_head": {"lr_mult": plan.head_lr_mult}}  # longer (bias) keys win in mmengine
    custom_keys.update({name: dict(bias_group) for name in head_bias_names(settings)})
    wrapper = {
        "type": ("AmpOptimWrapper" if cuda else "CPUAutocastOptimWrapper") if mixed else "OptimWrapper",
        "optimizer": optimizer,
        "accumulative_counts": plan.accumulation,
        "paramwise_cfg": {"custom_keys": custom_keys},
    }
    if cuda and mixed:
        wrapper["dtype"] = "bfloat16" if torch.cuda.is_bf16_supported() else "float16"
    return wrapper


def training_config(
    settings: SegmenterSettings,
    plan: TrainingPlan,
    *,
    image_dir: str,
    image_suffix: str,
    label_dir: str,
    id_file: str,
    work_dir: str,
    device: torch.device,
    workers: int,
    pretrained: str | None = None,
) -> dict:
    """The whole mmengine config of a training run (iteration-based, resumable, no validation loop).

    Under torchrun (several processes, :mod:`wsss.distributed`) mmengine's pytorch launcher runs it:
    each process loads ``batch_size / processes`` images of every batch, DDP averages the
    gradients, and trained BatchNorm becomes SyncBatchNorm on GPUs.
    """
    palette = voc_palette(len(settings.class_names) + 1).tolist()
    dataset = {
        "type": "BaseSegDataset",
        "data_root": "",
        "ann_file": id_file,
        "data_prefix": {"img_path": image_dir, "seg_map_path": label_dir},
        "img_suffix": image_suffix,
        "seg_map_suffix": ".png",
        "metainfo": {"classes": ("background", *settings.class_names), "palette": palette},
        "reduce_zero_label": False,
        "pipeline": train_pipeline(plan, RESNET_VARIANTS[settings.init][1].mean_bgr),
    }
    cuda = device.type == "cuda"
    several = launch.world_size() > 1
    return {
        "model": model_config(settings, plan.crop_size, pretrained, plan),
        "launcher": "pytorch" if several else "none",
        # The process group is already joined (wsss.stage.run_stage); CPU processes take no device ids.
        "model_wrapper_cfg": {"type": "MMDistributedDataParallel", "device_ids": [device.index] if cuda else None}
        if several
        else None,
        **({"sync_bn": "torch"} if several and cuda and not settings.freeze_bn else {}),
        "train_dataloader": {
            "batch_size": distributed.per_process_batch(plan.batch_size),
            "num_workers": workers if cuda else 0,
            "persistent_workers": cuda and workers > 0,
            "sampler": {"type": "InfiniteSampler", "shuffle": True, "seed": plan.seed},
            "dataset": dataset,
        },
        "train_cfg": {
            "type": "IterBasedTrainLoop",
            "max_iters": plan.iterations * plan.accumulation,
            "val_interval": 10**9,
        },
        "optim_wrapper": optim_wrapper_config(settings, plan, device),
        "param_scheduler": [
            {
                "type": "SteppedPolyLR",
                "iterations": plan.iterations,
                "power": 0.9,
                "step_size": plan.lr_step,
                "accumulation": plan.accumulation,
                "by_epoch": False,
            }
        ],
        "default_hooks": {
            "timer": {"type": "IterTimerHook"},
            "logger": {
                "type": "LoggerHook",
                "interval": max(1, min(50, plan.iterations // 10)),
                "log_metric_by_epoch": False,
            },
            "param_scheduler": {"type": "ParamSchedulerHook"},
            "checkpoint": {
                "type": "RecordedCheckpointHook",
                "by_epoch": False,
                "interval": min(plan.checkpoint_interval, plan.iterations) * plan.accumulation,
                "max_keep_ckpts": 1,
                "save_last": True,
            },
            "sampler_seed": {"type": "DistSamplerSeedHook"},
        },
        "env_cfg": {
            "cudnn_benchmark": cuda,
            "mp_cfg": {"mp_start_method": "fork", "opencv_num_threads": 0},
            "dist_cfg": {"backend": "nccl" if cuda else "gloo"},
        },
        "randomness": {"seed": plan.seed},
        "log_level": "INFO",
        "default_scope": "mmseg",
        "work_dir": work_dir,
        "resume": True,  # continue from work_dir's last checkpoint after an interruption
        "load_from": None,
    }


def trust_own_checkpoints(work_dir: str | os.PathLike) -> None:
    """Let mmengine resume from the checkpoints this pipeline wrote (and recorded) in ``work_dir``,
    and load every file weights-only, so that no file can run code.

    mmengine's resume files hold its HistoryBuffer and numpy objects besides tensors: a file inside
    ``work_dir`` whose size and sha256 match the record written when it was saved loads with
    exactly those allowed (:func:`wsss.models.seg_resume.load_resume_checkpoint`); every other file
    (pretrained weights, a foreign or damaged file) loads with tensors and plain containers only.
    """
    from mmengine.runner.checkpoint import CheckpointLoader

    from wsss.models.seg_resume import load_resume_checkpoint, verified_record

    trusted = Path(work_dir).resolve()

    def load_local(filename: str, map_location=None):
        path = Path(filename).expanduser().resolve()
        if not path.is_file():
            raise FileNotFoundError(f"{filename} can not be found")
        if trusted == path.parent and verified_record(path) is not None:
            return load_resume_checkpoint(path, map_location=map_location)
        return torch.load(path, map_location=map_location, weights_only=True)

    CheckpointLoader.register_scheme(prefixes="", loader=load_local, force=True)


def build_model(
    settings: SegmenterSettings,
    state: dict | None = None,
    device: torch.device | str = "cpu",
    crop_size: int | None = None,
) -> torch.nn.Module:
    """The mmseg model for ``settings``, with ``state`` loaded if given, in eval mode on ``device``.

    ``crop_size`` sets the padding size of mmseg's data preprocessor, needed only to train.
    """
    from mmseg.registry import MODELS as MMSEG_MODELS

    register_modules()
    model = MMSEG_MODELS.build(model_config(settings, crop_size))
    if state is not None:
        model.load_state_dict(state)
    return channels_last(model.to(device)).eval()


# What a segmenter checkpoint's meta always holds (further settings, added later, take their defaults).
SEGMENTER_META = ("model", "backbone", "num_classes", "class_names")


def read_segmenter_checkpoint(checkpoint: str | os.PathLike) -> tuple[SegmenterSettings, dict]:
    """The settings of a checkpoint of train_seg's and the checkpoint (its ``model`` and ``meta``); one of
    another stage (a CAM network's, say) is a ConfigError naming the file, the metadata it lacks and the
    kind expected."""
    state = read_checkpoint(checkpoint, SEGMENTER_META, "a segmenter checkpoint (train_seg's)")
    return settings_from_meta(state["meta"]), state


def settings_from_meta(meta: dict) -> SegmenterSettings:
    """The settings saved in a checkpoint's meta (which may hold further keys, such as its schedule)."""
    names = {f.name for f in fields(SegmenterSettings)}
    return SegmenterSettings(
        **{k: v for k, v in meta.items() if k in names and k != "class_names"}, class_names=tuple(meta["class_names"])
    )


def settings_to_meta(settings: SegmenterSettings) -> dict:
    return {**asdict(settings), "class_names": list(settings.class_names)}


FUSIONS = ("max", "mean")


def network_input(model: torch.nn.Module, rgb: np.ndarray) -> torch.Tensor:
    """(1, 3, H, W) input of ``model`` for an (H, W, 3) uint8 RGB image: the channel order, mean and std
    of its mmseg data preprocessor (set by ``segmenter.init``), as in training."""
    preprocessor = model.data_preprocessor
    image = torch.from_numpy(rgb).permute(2, 0, 1)[None].float().to(preprocessor.mean.device)
    if not preprocessor.channel_conversion:  # mmseg turns its BGR input into RGB only when told: this network takes BGR
        image = image.flip(1)
    return (image - preprocessor.mean) / preprocessor.std


@torch.no_grad()
def predict_probabilities(
    model: torch.nn.Module, rgb: np.ndarray, scales: list[float], flip: bool, fusion: str = "max"
) -> torch.Tensor:
    """(K, H, W) class probabilities of one (H, W, 3) uint8 image over ``scales`` (and h-flips).

    ``fusion`` "max" is the reference's MSC test: the element-wise max of the logits, each
    resized to the first scale's logits, then upsampled to the image and a softmax. "mean"
    averages the softmax of each scale's (and flip's) logits upsampled to the image.
    """
    if fusion not in FUSIONS:
        raise ValueError(f"eval_seg.fusion must be one of {FUSIONS}, got {fusion!r}")
    image = network_input(model, rgb)
    height, width = rgb.shape[:2]

    def network(batch: torch.Tensor) -> torch.Tensor:
        return model.decode_head(model.extract_feat(batch))

    def upsampled(logits: torch.Tensor) -> torch.Tensor:
        return F.interpolate(logits.float(), size=(height, width), mode="bilinear", align_corners=False)

    if fusion == "max":
        pyramid = scale_pyramid_logits(network, torch.cat([image, image.flip(-1)]) if flip else image, scales)
        if flip:
            pyramid = [part for logits in pyramid for part in (logits[:1], logits[1:].flip(-1))]
        return upsampled(max_fused(pyramid)).softmax(dim=1)[0]
    total = None
    for scale in scales:
        size = (max(8, round(height * scale)), max(8, round(width * scale)))
        scaled = F.interpolate(image, size=size, mode="bilinear", align_corners=False) if scale != 1 else image
        logits = network(torch.cat([scaled, scaled.flip(-1)]) if flip else scaled)
        if flip:
            logits = torch.stack([logits[0], logits[1].flip(-1)])
        probabilities = upsampled(logits).softmax(dim=1).mean(dim=0)
        total = probabilities if total is None else total + probabilities
    return total / len(scales)


def predict_labels(
    model: torch.nn.Module,
    rgb: np.ndarray,
    scales: list[float],
    flip: bool,
    crf: CRFParams | None = None,
    fusion: str = "max",
) -> np.ndarray:
    """(H, W) uint8 labels: argmax of :func:`predict_probabilities`, or of a dense CRF over them."""
    probabilities = predict_probabilities(model, rgb, scales, flip, fusion)
    if crf is not None:
        return crf_refine_scores(rgb, probabilities.cpu().numpy(), crf)
    return probabilities.argmax(dim=0).byte().cpu().numpy()
