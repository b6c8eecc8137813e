"""Training crops: the reference's padding (0 after normalisation, labels 255) and IRN's random rescale."""

import numpy as np
import pytest
import torch
from conftest import tiny_manifest
from PIL import Image

from wsss.data.label_folder import write_label_png
from wsss.data.training_data import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    AugmentedCrops,
    normalize_imagenet,
    pil_nearest_indices,
    random_crop,
    random_rescale,
    random_resize_long,
    shrink_labels_like_pil,
)
from wsss.data.voc_dataset import VOCDataset

IMAGE = torch.tensor([[[0.1, 0.2, 0.3], [0.4, 0.5, 0.6]]]).repeat(3, 1, 1)  # (3, 2, 3)
LABEL = torch.tensor([[1, 2, 0], [2, 1, 0]])


class FixedUniform:
    """A generator whose uniform draw is fixed, so that rescaled sizes can be computed by hand."""

    def __init__(self, value: float):
        self.value = value

    def uniform(self, low: float, high: float) -> float:
        return self.value


class FixedInteger:
    """A generator whose integer draw is fixed (and checked to lie in the range asked for)."""

    def __init__(self, value: int):
        self.value = value

    def integers(self, low: int, high: int) -> int:
        assert low <= self.value < high
        return self.value


def test_reference_padding_is_zero_after_normalisation_and_ignored_in_labels():
    crop, valid, label = random_crop(IMAGE, 4, np.random.default_rng(0), LABEL, padding="reference")
    assert valid.sum() == 6 and (label[~valid] == 255).all()
    x = normalize_imagenet(crop[None])[0]
    assert (x[:, ~valid] == 0).all()  # exactly: the mean colour minus the mean
    rows, cols = valid.nonzero(as_tuple=True)
    top, left = int(rows.min()), int(cols.min())
    assert torch.equal(crop[:, top : top + 2, left : left + 3], IMAGE)
    assert torch.equal(label[top : top + 2, left : left + 3], LABEL)


def test_black_padding_is_black_before_normalisation():
    crop, valid, _ = random_crop(IMAGE, 4, np.random.default_rng(0), padding="black")
    assert (crop[:, ~valid] == 0).all()
    expected = torch.from_numpy(-IMAGENET_MEAN / IMAGENET_STD)[:, None]
    assert torch.allclose(normalize_imagenet(crop[None])[0][:, ~valid], expected)


def test_a_smaller_image_lands_at_random_offsets_so_padding_falls_on_every_side():
    tops, lefts = set(), set()
    for seed in range(40):
        _, valid, _ = random_crop(IMAGE, 4, np.random.default_rng(seed))
        rows, cols = valid.nonzero(as_tuple=True)
        tops.add(int(rows.min()))
        lefts.add(int(cols.min()))
    assert tops == {0, 1, 2} and lefts == {0, 1}


@pytest.mark.parametrize("scale, size", [(0.5, (5, 10)), (1.25, (12, 25)), (1.5, (15, 30))])
def test_random_rescale_resizes_image_bicubic_and_label_nearest_with_pil(scale, size):
    pixels = np.random.default_rng(1).integers(0, 256, (10, 20, 3), dtype=np.uint8)
    labels = np.random.default_rng(2).integers(0, 3, (10, 20), dtype=np.uint8)
    image = torch.from_numpy(pixels).permute(2, 0, 1).float() / 255.0
    rescaled, label = random_rescale(image, 0.5, 1.5, FixedUniform(scale), torch.from_numpy(labels).long())
    assert rescaled.shape == (3, *size) and label.shape == size and label.dtype == torch.int64
    expected = np.asarray(Image.fromarray(pixels).resize(size[::-1], Image.BICUBIC))
    np.testing.assert_array_equal((rescaled * 255).round().byte().permute(1, 2, 0).numpy(), expected)
    np.testing.assert_array_equal(label.numpy(), np.asarray(Image.fromarray(labels).resize(size[::-1], Image.NEAREST)))


# The reference's misc/imutils.py random_resize_long: scale = target / long side, size
# (int(np.round(H * s)), int(np.round(W * s))), PIL bicubic on the uint8 image before normalisation.
# np.round rounds halves to even: 10 x 20 to a long side of 25 is 12.5 -> 12 rows, to 15 is 7.5 -> 8.
@pytest.mark.parametrize(
    "shape, target, size",
    [((10, 20), 25, (12, 25)), ((10, 20), 15, (8, 15)), ((20, 10), 25, (25, 12)), ((9, 9), 4, (4, 4))],
)
def test_long_side_resize_is_pil_bicubic_of_the_uint8_image_byte_for_byte(shape, target, size):
    pixels = np.random.default_rng(3).integers(0, 256, (*shape, 3), dtype=np.uint8)
    labels = np.random.default_rng(4).integers(0, 3, shape, dtype=np.uint8)
    image = torch.from_numpy(pixels).permute(2, 0, 1).float() / 255.0
    resized, label = random_resize_long(image, 4, 30, FixedInteger(target), torch.from_numpy(labels).long())
    assert resized.shape == (3, *size) and label.shape == size
    expected = np.asarray(Image.fromarray(pixels).resize(size[::-1], Image.BICUBIC))
    np.testing.assert_array_equal((resized * 255).round().byte().permute(1, 2, 0).numpy(), expected)
    assert torch.equal(resized, torch.from_numpy(expected.copy()).permute(2, 0, 1).float() / 255.0)
    np.testing.assert_array_equal(label.numpy(), np.asarray(Image.fromarray(labels).resize(size[::-1], Image.NEAREST)))


def test_long_side_resize_draws_the_target_from_low_to_high_inclusive():
    image = torch.zeros(3, 10, 20)
    longs = {random_resize_long(image, 5, 7, np.random.default_rng(seed))[0].shape[2] for seed in range(40)}
    assert longs == {5, 6, 7}


def test_irn_crops_rescale_the_original_size_without_long_side_resize(tiny_voc, tmp_path):
    """IRN's reference augmentation on a 20 x 30 image: 10..30 rows, 15..45 columns inside a 48 crop."""
    root, ids = tiny_voc
    for image_id in ids:
        write_label_png(tmp_path, image_id, np.ones((20, 30), dtype=np.uint8))
    data = AugmentedCrops(
        VOCDataset(root, tiny_manifest(), "train"), 48, None, label_folder=tmp_path, rescale_range=(0.5, 1.5)
    )
    heights, widths = [], []
    for epoch in range(8):
        data.epoch = epoch
        for index in range(len(data)):
            item = data[index]
            rows, cols = item["valid"].nonzero(as_tuple=True)
            height, width = int(rows.max() - rows.min()) + 1, int(cols.max() - cols.min()) + 1
            assert int(item["valid"].sum()) == height * width
            assert round(width / 1.5) in (height - 1, height, height + 1)  # one factor for both sides
            assert (item["label"][item["valid"]] == 1).all() and (item["label"][~item["valid"]] == 255).all()
            heights.append(height)
            widths.append(width)
    assert 10 <= min(heights) and max(heights) <= 30 and 15 <= min(widths) and max(widths) <= 45
    assert max(heights) - min(heights) > 8  # factors spread over the range, not a long-side resize to one size


def test_irn_labels_shrink_to_stride_4_at_pixel_4i_plus_2_as_pil():
    # PIL's nearest samples the centre of each 4-pixel cell from its top-left side: 2, 6, 10, ...
    assert pil_nearest_indices(512, 128).tolist() == [4 * i + 2 for i in range(128)]
    # 32 -> 10 (step 3.2): (7 + 1/2) * 3.2 is 24 exactly, but PIL's running sum of steps lands just
    # below it and takes pixel 23 (checked with Pillow 12 by hand).
    assert pil_nearest_indices(32, 10).tolist() == [1, 4, 8, 11, 14, 17, 20, 23, 27, 30]
    labels = torch.arange(64).view(8, 8)
    assert shrink_labels_like_pil(labels[None], (2, 2))[0].tolist() == [[18, 22], [50, 54]]


@pytest.mark.parametrize(
    "size, shrunk",
    [
        ((512, 512), (128, 128)),
        ((375, 500), (94, 125)),
        ((500, 333), (125, 83)),
        ((513, 97), (128, 24)),
        ((32, 52), (10, 17)),
    ],
)
def test_irn_label_shrink_equals_pil_nearest_resize(size, shrunk):
    labels = np.random.default_rng(0).integers(0, 256, size, dtype=np.uint8)
    expected = np.asarray(Image.fromarray(labels).resize(shrunk[::-1], Image.NEAREST))
    result = shrink_labels_like_pil(torch.from_numpy(labels).long()[None].repeat(2, 1, 1), shrunk)
    assert result.shape == (2, *shrunk) and (result.numpy() == expected).all()
