"""The training-free seed sources as CAM folders: CLIP-ES or MaskCLIP maps of every image, in make_cam's format.

A source's settings are its config section (``clip_es`` or ``maskclip``); the keys that name a field of
the source's settings class reach it, the rest (model, batch size, precision) are read here.
"""

from __future__ import annotations

import dataclasses
import logging
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np
import torch

from wsss.data.cam_io import CamRecord, save_cam
from wsss.data.images import batches_by_image_size, read_rgb
from wsss.data.manifest import DatasetManifest
from wsss.device import fast_bf16
from wsss.models.clip_scorer import cast_clip, freeze, load_clip
from wsss.progress import Progress
from wsss.seeds.clip_es import ClipEsSettings, clip_es_maps
from wsss.seeds.maskclip import MaskClipSettings, maskclip_maps
from wsss.seeds.text import encode_prompts

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SeedSource:
    """How one training-free source makes maps: its settings class and its batched map function."""

    settings: type
    maps: Callable[..., list[tuple[np.ndarray, np.ndarray]]]


SOURCES = {
    "clip_es": SeedSource(ClipEsSettings, clip_es_maps),
    "maskclip": SeedSource(MaskClipSettings, maskclip_maps),
}


def source_settings(source: str, section: Mapping) -> object:
    """The source's settings object from its config section (keys that are not its fields are skipped)."""
    if source not in SOURCES:
        raise ValueError(f"unknown training-free seed source {source!r} (one of {', '.join(SOURCES)})")
    names = {field.name for field in dataclasses.fields(SOURCES[source].settings)}
    return SOURCES[source].settings(**{key: value for key, value in section.items() if key in names})


def clip_weight_dtype(precision: str, device: torch.device) -> torch.dtype:
    """fp16 weights on CUDA as clip.load leaves OpenAI's models there ('reference'), else fp32."""
    return torch.float16 if precision == "reference" and device.type == "cuda" else torch.float32


def clip_autocast(precision: str, device: torch.device) -> torch.dtype | None:
    """bf16 autocast for 'bf16-autocast' where it is fast (:func:`wsss.device.fast_bf16`), else none."""
    return fast_bf16(device) if precision == "bf16-autocast" else None


def frozen_clip(model: str, download_root: str, precision: str, device: torch.device) -> torch.nn.Module:
    """The source's CLIP on ``device``, frozen, with the weights' dtype of ``precision``."""
    loaded = load_clip(model, device=device, download_root=download_root)
    return freeze(cast_clip(loaded, clip_weight_dtype(precision, device)))


def write_clip_cams(
    source: str,
    model: torch.nn.Module,
    manifest: DatasetManifest,
    jobs: dict[str, tuple[str, tuple[int, ...]]],
    folder: str | os.PathLike,
    settings: object,
    batch_size: int,
    progress: Progress,
    autocast_dtype: torch.dtype | None = None,
) -> int:
    """Write ``<folder>/<id>.npz`` for every job, batching images of one size; returns the count of
    images without a class (written with no maps, each named in the log)."""
    class_features = encode_prompts(model, list(manifest.seed_class_texts), manifest.seed_prompt_template)
    background_features = encode_prompts(model, list(manifest.seed_background_words), manifest.seed_prompt_template)
    without_class = 0
    for chunk in batches_by_image_size(list(jobs), lambda image_id: jobs[image_id][0], batch_size):
        images = np.stack([read_rgb(jobs[image_id][0]) for image_id in chunk])
        keys = [np.asarray(jobs[image_id][1], dtype=np.int64) for image_id in chunk]
        maps = SOURCES[source].maps(
            model, images, keys, class_features, background_features, settings, autocast_dtype=autocast_dtype
        )
        for image_id, image_keys, (full, stride4) in zip(chunk, keys, maps):
            if len(image_keys) == 0:
                without_class += 1
                log.info("%s: image %s has no class; its CAM file holds no maps", source, image_id)
            save_cam(folder, image_id, CamRecord(keys=image_keys, cam=full, cam_stride4=stride4))
        progress.advance(len(chunk))
    return without_class
