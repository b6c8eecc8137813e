"""Torch datasets over a :class:`VOCDataset`: augmented crops for training, whole images for inference."""

from __future__ import annotations

import os

import numpy as np
import torch
from PIL import Image

from wsss import distributed
from wsss.data.images import pil_rescale
from wsss.data.label_folder import read_label_folder_png
from wsss.data.voc_dataset import VOCDataset
from wsss.palette import IGNORE_INDEX

IMAGENET_MEAN = np.array([0.485, 0.456, 0.406], dtype=np.float32)
IMAGENET_STD = np.array([0.229, 0.224, 0.225], dtype=np.float32)
# What a crop is padded with, per ``crop_padding``: "reference" fills the ImageNet mean colour, which
# is exactly 0 once normalised (the reference pads its already normalised image with 0); "black" fills 0.
CROP_PADDING = {"reference": IMAGENET_MEAN, "black": np.zeros(3, dtype=np.float32)}


def normalize_imagenet(images01: torch.Tensor) -> torch.Tensor:
    """(N, 3, H, W) in [0, 1] -> ImageNet-normalised network input."""
    mean = images01.new_tensor(IMAGENET_MEAN).view(1, 3, 1, 1)
    std = images01.new_tensor(IMAGENET_STD).view(1, 3, 1, 1)
    return (images01 - mean) / std


def pil_rescale_pair(
    image: torch.Tensor, scale: float, label: torch.Tensor | None = None
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Rescale (3, H, W) in [0, 1] to (round(H * s), round(W * s)) as the reference does: the image as
    uint8 with PIL bicubic (exact, since it holds uint8 values / 255), an (H, W) ``label`` map with PIL nearest.
    """
    pixels = image.mul(255).round().byte().permute(1, 2, 0).numpy()
    image = torch.from_numpy(pil_rescale(pixels, scale, Image.BICUBIC)).permute(2, 0, 1).float() / 255.0
    if label is not None:
        label = torch.from_numpy(pil_rescale(label.numpy().astype(np.uint8), scale, Image.NEAREST)).to(label.dtype)
    return image, label


def random_resize_long(
    image: torch.Tensor, low: int, high: int, generator: np.random.Generator, label: torch.Tensor | None = None
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Resize (3, H, W) in [0, 1] so that its long side is an integer uniform in [low, high], CAM and
    CLIMS training's augmentation (the reference's ``random_resize_long``), by :func:`pil_rescale_pair`.
    """
    target = int(generator.integers(low, high + 1))
    return pil_rescale_pair(image, target / max(image.shape[1:]), label)


def random_rescale(
    image: torch.Tensor, low: float, high: float, generator: np.random.Generator, label: torch.Tensor | None = None
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Rescale (3, H, W) in [0, 1] by a factor uniform in [low, high], IRN's augmentation, by
    :func:`pil_rescale_pair`."""
    return pil_rescale_pair(image, float(generator.uniform(low, high)), label)


def random_crop(
    image: torch.Tensor,
    size: int,
    generator: np.random.Generator,
    label: torch.Tensor | None = None,
    padding: str = "reference",
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
    """Place a random ``size`` x ``size`` window over the image; a smaller image sits at a random offset.

    Padding takes the colour :data:`CROP_PADDING` names for ``padding``. Returns the crop, a
    (size, size) mask of the pixels that came from the image, and the same window of ``label``
    if given (padding there is the ignore index).
    """
    _, height, width = image.shape
    crop = image.new_tensor(CROP_PADDING[padding]).view(3, 1, 1).repeat(1, size, size)
    valid = torch.zeros(size, size, dtype=torch.bool)
    top = int(generator.integers(0, max(height - size, 0) + 1))
    left = int(generator.integers(0, max(width - size, 0) + 1))
    offset_y = int(generator.integers(0, max(size - height, 0) + 1))
    offset_x = int(generator.integers(0, max(size - width, 0) + 1))
    h, w = min(size, height), min(size, width)
    crop[:, offset_y : offset_y + h, offset_x : offset_x + w] = image[:, top : top + h, left : left + w]
    valid[offset_y : offset_y + h, offset_x : offset_x + w] = True
    label_crop = None
    if label is not None:
        label_crop = label.new_full((size, size), IGNORE_INDEX)
        label_crop[offset_y : offset_y + h, offset_x : offset_x + w] = label[top : top + h, left : left + w]
    return crop, valid, label_crop


class AugmentedCrops(torch.utils.data.Dataset):
    """Random long-side resize and/or rescale, horizontal flip and crop; yields images in [0, 1] and
    multi-hot labels. The reference's order: resize_long, rescale, flip, crop (CAM training uses
    resize_long only, IRN rescale only).

    With ``label_folder`` (one ``<id>.png`` label map per image, such as IR labels) each item
    also carries the same crop of its label map ("label", int64, padding 255).
    """

    def __init__(
        self,
        dataset: VOCDataset,
        crop_size: int,
        resize_long: tuple[int, int] | None,
        seed: int = 0,
        label_folder: str | os.PathLike | None = None,
        rescale_range: tuple[float, float] | None = None,
        crop_padding: str = "reference",
    ):
        if crop_padding not in CROP_PADDING:
            raise ValueError(f"crop_padding must be one of {sorted(CROP_PADDING)}, got {crop_padding!r}")
        self.dataset = dataset
        self.labels = torch.from_numpy(dataset.label_matrix().astype(np.float32))
        self.crop_size = crop_size
        self.resize_long = resize_long
        self.rescale_range = rescale_range
        self.crop_padding = crop_padding
        self.seed = seed
        self.label_folder = label_folder
        self.epoch = 0

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, index: int) -> dict:
        generator = np.random.default_rng([self.seed, self.epoch, index])
        image_id = self.dataset.ids[index]
        image = torch.from_numpy(self.dataset.read_image(image_id)).permute(2, 0, 1).float() / 255.0
        label = None
        if self.label_folder is not None:
            label = torch.from_numpy(
                read_label_folder_png(self.label_folder, image_id, image.shape[1:]).astype(np.int64)
            )
        if self.resize_long is not None:
            image, label = random_resize_long(image, *self.resize_long, generator, label)
        if self.rescale_range is not None:
            image, label = random_rescale(image, *self.rescale_range, generator, label)
        if generator.random() < 0.5:
            image = image.flip(-1)
            label = None if label is None else label.flip(-1)
        crop, valid, label_crop = random_crop(image, self.crop_size, generator, label, self.crop_padding)
        item = {"image": crop, "valid": valid, "labels": self.labels[index], "index": index}
        if label_crop is not None:
            item["label"] = label_crop
        return item


def training_loader(
    data: AugmentedCrops, batch_size: int, seed: int, device: torch.device, threads: int
) -> torch.utils.data.DataLoader:
    """Batches of ``batch_size`` images shuffled per epoch by ``seed + epoch``, whole batches only
    (:class:`wsss.distributed.EpochShuffle`); under several processes each loads its share of
    every batch. Worker processes only on GPU machines (on CPU the cores compute)."""
    return torch.utils.data.DataLoader(
        data,
        batch_size=distributed.per_process_batch(batch_size),
        sampler=distributed.EpochShuffle(len(data), batch_size, seed),
        num_workers=threads if device.type == "cuda" else 0,
        pin_memory=device.type == "cuda",
    )


def pil_nearest_indices(length: int, size: int) -> np.ndarray:
    """The source indices PIL's nearest-neighbour resize of a side from ``length`` to ``size``
    (<= ``length``) samples, as IRN shrinks its IR labels (``imutils.pil_rescale(label, 0.25, 0)``).

    PIL starts at half a step, step/2 with step = length / size, adds the step once per output
    pixel in double precision and truncates (``ImagingScaleAffine``); the running sum, not the
    exact product (i + 1/2) * step, is what decides the rare index that falls on a whole number.
    For 512 -> 128 that is pixel 4i + 2, where torch's ``nearest`` takes 4i.
    """
    step = length / size
    return np.cumsum(np.concatenate([[step / 2], np.full(size - 1, step)])).astype(np.int64)


def shrink_labels_like_pil(labels: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """(..., H, W) label maps shrunk to ``size`` = (h, w) by PIL's nearest-neighbour rule
    (:func:`pil_nearest_indices`), as IRN's training labels at stride 4."""
    rows = torch.from_numpy(pil_nearest_indices(labels.shape[-2], size[0])).to(labels.device)
    cols = torch.from_numpy(pil_nearest_indices(labels.shape[-1], size[1])).to(labels.device)
    return labels[..., rows[:, None], cols]
