"""CLIP-ES's steps on hand-computed cases, and the batched maps against the one-class-at-a-time loop."""

import numpy as np
import pytest
import torch
from conftest import _load_script
from seed_helpers import tiny_clip, unit_rows

from wsss.device import fast_bf16
from wsss.refine.cam_to_labels import power_background
from wsss.seeds.clip_cams import clip_autocast
from wsss.seeds.clip_es import (
    ClipEsSettings,
    box_mask,
    boxes_from_contours,
    clip_es_maps,
    gradcam_maps,
    normalise_affinity,
    refine_with_affinity,
)


def test_gradcam_weights_channels_by_their_mean_gradient_then_relu_and_min_max():
    # channel 0: A = [[1, 2], [3, 4]], gradient 1 everywhere -> weight 1
    # channel 1: A = [[4, 3], [2, 1]], gradient [[-1, -1], [-1, -3]] -> weight -1.5
    # sum: [[1 - 6, 2 - 4.5], [3 - 3, 4 - 1.5]] = [[-5, -2.5], [0, 2.5]]; ReLU: [[0, 0], [0, 2.5]];
    # min-max: 2.5 / (1e-7 + 2.5)
    activations = torch.tensor([[[[1.0, 2], [3, 4]], [[4, 3], [2, 1]]]])
    gradients = torch.tensor([[[[1.0, 1], [1, 1]], [[-1, -1], [-1, -3]]]])
    expected = torch.tensor([[[0.0, 0], [0, 2.5 / (1e-7 + 2.5)]]])
    assert torch.allclose(gradcam_maps(activations, gradients), expected, atol=0, rtol=1e-7)


SCOREMAP = np.array(
    [
        [0, 0, 0, 0, 0],
        [0, 0.9, 0.41, 0, 0],
        [0, 0.401, 0, 0, 1.0],
        [0, 0, 0, 0, 1.0],
    ],
    dtype=np.float32,
)


def test_boxes_threshold_the_uint8_map_and_clip_the_far_edges():
    # uint8: max 255, threshold int(0.4 * 255) = 102; 0.41 -> 104 (in), 0.401 -> 102 (out, not > 102).
    # Blobs: row 1, columns 1-2 -> x 1, y 1, w 2, h 1 -> [1, 1, 3, 2]; column 4, rows 2-3 -> x1 = 5 and
    # y1 = 4 clipped to width-1 = 4 and height-1 = 3 -> [4, 2, 4, 3].
    assert sorted(boxes_from_contours(SCOREMAP, 0.4).tolist()) == [[1, 1, 3, 2], [4, 2, 4, 3]]
    # Float threshold 0.4: 0.401 is in, so the first blob spans rows 1-2 -> [1, 1, 3, 3].
    assert sorted(boxes_from_contours(SCOREMAP, 0.4, uint8=False).tolist()) == [[1, 1, 3, 3], [4, 2, 4, 3]]
    assert sorted(boxes_from_contours(SCOREMAP, 0.4, clip_edges=False).tolist()) == [[1, 1, 3, 2], [4, 2, 5, 4]]
    assert boxes_from_contours(np.zeros((3, 3), np.float32), 0.4).tolist() == [[0, 0, 0, 0]]


def test_box_masks_are_end_exclusive_so_a_clipped_edge_box_can_be_empty():
    mask = box_mask(np.array([[1, 1, 3, 2], [4, 2, 4, 3]]), 4, 5)
    expected = np.zeros((4, 5), np.float32)
    expected[1, 1:3] = 1
    assert np.array_equal(mask, expected)


def test_the_affinity_is_normalised_by_columns_then_rows_symmetrised_and_squared():
    # A = [[1, 3], [1, 1]]: column sums [2, 4] -> [[1/2, 3/4], [1/2, 1/4]]; row sums [5/4, 3/4]
    # -> [[2/5, 3/5], [2/3, 1/3]]; symmetrised off-diagonal (3/5 + 2/3) / 2 = 19/30;
    # squared: [[4/25 + 361/900, 2/5 * 19/30 + 19/30 * 1/3], [., 361/900 + 1/9]]
    # = [[505/900, 209/450], [209/450, 461/900]].
    attention = torch.tensor([[1.0, 3.0], [1.0, 1.0]], dtype=torch.float64)
    expected = torch.tensor([[505 / 900, 209 / 450], [209 / 450, 461 / 900]], dtype=torch.float64)
    assert torch.allclose(normalise_affinity(attention, rounds=1), expected)
    # Rows first would give a different matrix: the order is columns, then rows.
    rows_first = attention / attention.sum(1, keepdim=True)
    rows_first = rows_first / rows_first.sum(0, keepdim=True)
    rows_first = (rows_first + rows_first.T) / 2
    assert not torch.allclose(normalise_affinity(attention, rounds=1), rows_first @ rows_first)
    # batched over images: each matrix on its own
    batch = torch.stack([attention, attention.T])
    assert torch.allclose(normalise_affinity(batch, 3)[1], normalise_affinity(attention.T, 3))


def test_refinement_zeroes_the_affinity_columns_outside_the_box():
    # A = [[1, 2], [3, 4]] on a 1x2 grid, CAM [0.5, 1], mask [1, 0]: [[1, 0], [3, 0]] @ [0.5, 1] = [0.5, 1.5]
    affinity = torch.tensor([[1.0, 2.0], [3.0, 4.0]])
    refined = refine_with_affinity(affinity, torch.tensor([[[0.5, 1.0]]]), torch.tensor([[[1.0, 0.0]]]))
    assert torch.equal(refined, torch.tensor([[[0.5, 1.5]]]))


def test_the_background_is_one_minus_the_top_class_to_the_power_alpha():
    cams = np.array([[[0.2, 0.5]], [[0.6, 0.1]]], np.float32)  # max [0.6, 0.5] -> (0.4, 0.5) ** 2
    assert power_background(cams, 2).shape == (1, 1, 2)  # one plane, stacked above the CAMs
    assert np.allclose(power_background(cams, 2)[0], [[0.16, 0.25]])
    assert np.array_equal(power_background(np.zeros((0, 2, 3), np.float32), 1)[0], np.ones((2, 3)))


@pytest.fixture(scope="module")
def setup():
    model = tiny_clip(layers=9)
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (3, 37, 50, 3), dtype=np.uint8)
    keys = [np.array([0, 2]), np.array([], dtype=np.int64), np.array([3, 1, 0])]
    return model, images, keys, unit_rows(4, 1), unit_rows(3, 2)


def test_an_image_without_classes_gets_empty_maps_and_the_others_maps_in_0_1(setup):
    model, images, keys, classes, background = setup
    out = clip_es_maps(model, images, keys, classes, background, ClipEsSettings())
    assert [(full.shape, small.shape) for full, small in out] == [
        ((2, 37, 50), (2, 10, 13)),
        ((0, 37, 50), (0, 10, 13)),
        ((3, 37, 50), (3, 10, 13)),
    ]
    for full, small in out:
        assert full.dtype == small.dtype == np.float32
        assert ((full >= 0) & (full <= 1)).all() and ((small >= 0) & (small <= 1)).all()
    assert all(p.grad is None for p in model.parameters())  # no weight gradients
    none = clip_es_maps(model, images[1:2], keys[1:2], classes, background, ClipEsSettings())
    assert none[0][0].shape == (0, 37, 50)


def test_batched_maps_equal_one_image_and_one_class_at_a_time(setup):
    model, images, keys, classes, background = setup
    settings = ClipEsSettings(box_threshold=0.5, affinity_layers=5)
    batched = clip_es_maps(model, images, keys, classes, background, settings)
    loop = _load_script("bench", "bench_clip_seeds").one_class_at_a_time
    for image, key, (full, _) in zip(images, keys, batched):
        alone = clip_es_maps(model, image[None], [key], classes, background, settings)[0][0]
        assert alone.shape == full.shape and np.allclose(alone, full, rtol=0, atol=1e-4)
        one_class = loop(model, image, key, classes, background, settings)
        assert one_class.shape == full.shape and np.allclose(one_class, full, rtol=0, atol=1e-4)


def test_bf16_autocast_runs_where_it_is_fast_and_keeps_the_maps_close(setup):
    model, images, keys, classes, background = setup
    cpu = torch.device("cpu")
    assert clip_autocast("reference", cpu) is None and clip_autocast("fp32", cpu) is None
    assert clip_autocast("bf16-autocast", cpu) == fast_bf16(cpu)  # None on a CPU without native bf16
    exact = clip_es_maps(model, images, keys, classes, background, ClipEsSettings())
    mixed = clip_es_maps(model, images, keys, classes, background, ClipEsSettings(), autocast_dtype=torch.bfloat16)
    for (full, _), (other, _) in zip(exact, mixed):
        assert full.shape == other.shape and other.dtype == np.float32
        if len(full):  # bf16's 8-bit mantissa through 9 blocks and a min-max
            assert np.abs(full - other).max() < 0.25
