"""Large photos: tiles that cover the image once with context, or one downscaled pass."""

import numpy as np
import pytest

from wsss.models.large_images import axis_windows, label_large_image


@pytest.mark.parametrize("length", [1, 64, 65, 200, 1000, 4000])
def test_tiles_keep_every_pixel_once_and_read_at_most_max_side(length):
    windows = axis_windows(length, 64)
    kept = np.zeros(length, int)
    for read_start, read_stop, keep_start, keep_stop in windows:
        assert 0 <= read_start <= keep_start < keep_stop <= read_stop <= length
        assert read_stop - read_start <= 64
        kept[keep_start:keep_stop] += 1
    assert (kept == 1).all()
    if length > 64:  # a margin of context wherever the image goes on
        assert all(keep_start - read_start == 8 for read_start, _, keep_start, _ in windows[1:])


def brightness_labels(seen: list):
    """A stand-in segmenter: class 1 where the red channel is bright, and a record of the sizes it saw."""

    def predict(rgb):
        seen.append(rgb.shape[:2])
        return (rgb[..., 0] > 127).astype(np.uint8)

    return predict


def test_tiles_give_the_full_resolution_result_from_small_passes():
    rgb = np.random.default_rng(0).integers(0, 255, (300, 170, 3), dtype=np.uint8)
    seen = []
    labels, how = label_large_image(brightness_labels(seen), rgb, 64, "tiles")
    np.testing.assert_array_equal(labels, (rgb[..., 0] > 127).astype(np.uint8))
    assert max(max(size) for size in seen) <= 64 and how == f"{len(seen)} tiles of at most 64 px"


def test_downscaling_runs_once_at_max_side_and_scales_the_mask_back():
    rgb = np.zeros((400, 300, 3), np.uint8)
    rgb[100:300, 50:250, 0] = 255
    seen = []
    labels, how = label_large_image(brightness_labels(seen), rgb, 100, "downscale")
    assert seen == [(100, 75)] and how == "downscaled to 75x100" and labels.shape == (400, 300)
    assert abs(int(labels.sum()) - 200 * 200) < 0.03 * 200 * 200


def test_an_image_within_max_side_is_passed_as_it_is():
    seen = []
    labels, how = label_large_image(brightness_labels(seen), np.zeros((50, 60, 3), np.uint8), 64, "tiles")
    assert seen == [(50, 60)] and how == "" and labels.shape == (50, 60)
