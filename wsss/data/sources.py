"""Where a run's inputs come from: the dataset folders the download rules make, and what an offline
machine must be given by hand.

Read while Snakemake parses the workflow (rules/fetch.smk), so nothing here imports torch. The
archives' addresses, sizes and checksums are the config's (``fetch.sources``); this module knows
which archives make which configured folder and how that folder sits inside them.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from wsss.clip_source import OPENAI_CLIP_MODELS, openai_clip_file
from wsss.named_weights import cache_file, is_named, source_url


@dataclass(frozen=True)
class DatasetFolder:
    """A folder a config key names, made by unpacking ``archives`` (keys of fetch.sources) together:
    it is their ``inside`` folder ("" for the top)."""

    rule: str
    archives: tuple[str, ...]
    inside: str
    holds: str


DATASET_FOLDERS = {
    "voc_sbd.voc_root": DatasetFolder(
        "unpack_voc", ("voc2012",), "VOCdevkit/VOC2012", "JPEGImages/, Annotations/, SegmentationClass/, ImageSets/"
    ),
    "voc_sbd.sbd_root": DatasetFolder("unpack_sbd", ("sbd",), "benchmark_RELEASE/dataset", "cls/, train.txt, val.txt"),
    "coco.coco_root": DatasetFolder(
        "unpack_coco",
        ("coco_train2014", "coco_val2014", "coco_annotations2014"),
        "",
        "train2014/, val2014/, annotations/instances_{train,val}2014.json",
    ),
}

# Where a weights file a config key names comes from, for the message to an offline machine.
IMAGENET_RESNET50 = (
    "torchvision's ImageNet ResNet-50 state dict, converted with tools/convert_imagenet_weights.py "
    "(or name it torchvision:resnet50.IMAGENET1K_V1 to have it fetched)"
)
WEIGHT_ORIGINS = {
    "train_cam.pretrained": IMAGENET_RESNET50,
    "irn.pretrained": IMAGENET_RESNET50,
    "segmenter.pretrained": "with segmenter.init deeplab_caffe, deeplab-pytorch's deeplabv1_resnet101-imagenet.pth "
    "(its README links it); with init torchvision, torchvision's file (or torchvision:resnet101.IMAGENET1K_V1)",
}


def same_path(a: str | os.PathLike, b: str | os.PathLike) -> bool:
    return os.path.normpath(a) == os.path.normpath(b)


def dataset_sources(config: dict) -> dict[str, str]:
    """Config key -> folder of the published datasets the run's dataset is prepared from (none for the
    demo world or a dataset of one's own in VOC layout)."""
    root = config["dataset"]["root"]
    if config["dataset"]["demo_world"]:
        return {}
    keys = []
    if same_path(root, config["voc_sbd"]["root"]):
        keys = ["voc_sbd.voc_root", "voc_sbd.sbd_root"]
    elif same_path(root, config["coco"]["root"]):
        keys = ["coco.coco_root"]
    return {key: config[key.split(".")[0]][key.split(".")[1]] for key in keys}


def archive_line(source: dict) -> str:
    return f"{source['file']} ({source['bytes'] / 1e9:.1f} GB, {source['url']})"


def missing_dataset_lines(folders: dict[str, str], sources: dict[str, dict]) -> list[str]:
    """One line per missing dataset folder: what to unpack where, and from which address."""
    lines = []
    for key, folder in folders.items():
        made = DATASET_FOLDERS[key]
        archives = " + ".join(archive_line(sources[name]) for name in made.archives)
        where = f"its {made.inside}/ " if made.inside else "their top-level folders "
        lines.append(f"{key}: {folder} is missing (holding {made.holds}): unpack {archives} and put {where}there")
    return lines


def missing_weight_lines(weights: dict[str, str | None]) -> list[str]:
    """One line per weights file (config key -> path or torchvision name) that is not there; an
    unknown torchvision name is refused."""
    lines = []
    for key, value in weights.items():
        if not value or "://" in value:
            continue
        if is_named(value):
            if not cache_file(value).is_file():
                lines.append(f"{key}: {value} is not in torch's cache: put {source_url(value)} at {cache_file(value)}")
        elif not Path(value).exists():
            lines.append(f"{key}: {value} is missing: put {WEIGHT_ORIGINS.get(key, 'the weights file')} there")
    return lines


def missing_clip_lines(models: dict[str, tuple[str, str]]) -> list[str]:
    """One line per CLIP (config key -> (model, download_root)) whose file is not there: an OpenAI
    name's file under its download_root (clip.load would download it), or a checkpoint path."""
    lines = []
    for key, (model, root) in models.items():
        path = openai_clip_file(model, root) if model in OPENAI_CLIP_MODELS else model
        if not Path(path).exists():
            origin = f"OpenAI's {model} (clip.load downloads it when online)" if model in OPENAI_CLIP_MODELS else "it"
            lines.append(f"{key}: {path} is missing: put {origin} there")
    return lines


def offline_message(lines: list[str]) -> str:
    """The one error that lists every missing input, before any job starts."""
    return (
        "fetch.enabled is false (nothing is downloaded) and these inputs are missing:\n"
        + "\n".join(f"  - {line}" for line in lines)
        + "\nPut each in place, or set fetch.enabled: true on a machine with internet, and run again "
        "(docs/datasets.md)."
    )
