"""CLIP's reward for masks without annotation (PnP-OVSS): the kept and removed views, the softmax each
option takes, the wins, the candidate settings of the CRF refinement and the choice among them."""

import numpy as np
import pytest
from seed_helpers import ColourClip

from wsss.evaluation.reward import (
    RefineCandidate,
    best_candidate,
    candidate_label_maps,
    kept_and_removed,
    mask_wins,
    refine_candidates,
)
from wsss.models.clip_scorer import CLIP_MEAN, CLIP_STD, ClipScorer
from wsss.refine.cam_to_labels import crf_pseudo_labels
from wsss.refine.crf import CRFParams

RED, BLUE = (250, 10, 10), (10, 10, 250)


def _scorer():
    # class prompts: red (0), green (1); background prompt: blue
    return ClipScorer(ColourClip(), ["a photo of red.", "a photo of green."], ["a photo of blue."], input_mode="clip")


def _red_left_blue_right():
    image = np.zeros((8, 8, 3), dtype=np.uint8)
    image[:, :4], image[:, 4:] = RED, BLUE
    return image


def _probability(image, mask, column, texts):
    """By hand: the masked image's mean CLIP-normalised colour, its cosine with unit texts at scale 10, softmax."""
    x = (image / 255.0 * mask[..., None] - np.array(CLIP_MEAN)) / np.array(CLIP_STD)
    feature = x.reshape(-1, 3).mean(axis=0)
    logits = 10 * feature[texts] / np.linalg.norm(feature)
    return np.exp(logits[column]) / np.exp(logits).sum()


def test_kept_and_removed_are_the_class_s_softmax_share_with_the_mask_kept_and_removed():
    image = _red_left_blue_right()
    left = np.zeros((8, 8), dtype=bool)
    left[:, :4] = True
    masks = np.stack([left, ~left])
    kept, removed = kept_and_removed(_scorer(), image, masks, [0, 0], "image_classes_and_background")
    texts = [0, 2]  # the image's class (red) and the background word (blue)
    np.testing.assert_allclose(kept, [_probability(image, m, 0, texts) for m in masks], rtol=1e-5)
    np.testing.assert_allclose(removed, [_probability(image, ~m, 0, texts) for m in masks], rtol=1e-5)
    assert kept[0] > removed[0] and kept[1] < removed[1]  # the red half is red's mask, the blue half is not
    every, _ = kept_and_removed(_scorer(), image, masks, [0, 0], "all_classes_and_background", batch_size=1)
    np.testing.assert_allclose(every, [_probability(image, m, 0, [0, 1, 2]) for m in masks], rtol=1e-5)


def test_with_the_image_s_classes_alone_one_class_never_wins_as_pnp_ovss():
    image = _red_left_blue_right()
    labels = np.zeros((8, 8), dtype=np.uint8)
    labels[:, :4] = 1
    assert not mask_wins(_scorer(), image, [labels], np.array([0]), "image_classes").any()  # softmax of one: 1 = 1
    assert mask_wins(_scorer(), image, [labels], np.array([0]), "image_classes_and_background").all()


def test_wins_per_label_map_and_class_and_an_empty_mask_loses():
    image = _red_left_blue_right()
    right, left, empty = (np.zeros((8, 8), dtype=np.uint8) for _ in range(3))
    left[:, :4] = 1
    right[:, 4:] = 1
    wins = mask_wins(_scorer(), image, [left, right, empty], np.array([0]))
    assert wins.tolist() == [[True], [False], [False]]
    black, whole = kept_and_removed(_scorer(), image, np.zeros((1, 8, 8), dtype=bool), [0])
    assert black[0] > whole[0]  # the stand-in CLIP calls a black image red: the empty mask loses all the same
    assert mask_wins(_scorer(), image, [], np.array([0])).shape == (0, 1)


def test_candidates_pair_every_background_value_with_every_confidence():
    plane = refine_candidates("threshold", [0.2, 0.3], [1, 2], [0.0, 0.9])
    assert [c.overrides for c in plane] == [
        {"bg_threshold": 0.2, "confidence": 0.0},
        {"bg_threshold": 0.2, "confidence": 0.9},
        {"bg_threshold": 0.3, "confidence": 0.0},
        {"bg_threshold": 0.3, "confidence": 0.9},
    ]
    power = refine_candidates("power", [0.2, 0.3], [1, 2], [0.95])
    assert [c.overrides for c in power] == [{"alpha": 1.0, "confidence": 0.95}, {"alpha": 2.0, "confidence": 0.95}]


@pytest.mark.parametrize("background", ["threshold", "power"])
def test_candidate_label_maps_are_the_pseudo_labels_each_setting_gives(background):
    rng = np.random.default_rng(1)
    rgb = rng.integers(0, 255, size=(20, 24, 3), dtype=np.uint8)
    cam = rng.random((2, 20, 24)).astype(np.float32)
    keys = np.array([1, 4])
    params = CRFParams(
        iterations=3,
        gt_prob=0.7,
        gaussian_sxy=3,
        gaussian_compat=3,
        bilateral_sxy=20,
        bilateral_srgb=13,
        bilateral_compat=5,
    )
    candidates = refine_candidates(background, [0.3, 0.6], [0.5, 2.0], [0.0, 0.6])
    maps = candidate_label_maps(rgb, cam, keys, candidates, params)
    for candidate, labels in zip(candidates, maps):
        value = candidate.value
        expected = crf_pseudo_labels(rgb, cam, keys, params, background, value, value, candidate.confidence)
        assert np.array_equal(labels, expected), candidate
    assert len({m.tobytes() for m in maps}) > 1  # the settings change the labels


def test_the_most_wins_are_chosen_and_a_tie_takes_its_middle():
    assert best_candidate([3, 5, 5, 5, 1]) == 2
    assert best_candidate([5, 5, 1]) == 0
    assert best_candidate([1, 2]) == 1
    assert best_candidate([0, 0, 0, 0]) == 1


def test_a_candidate_names_the_key_of_its_background():
    assert RefineCandidate("threshold", 0.4, 0.0).overrides == {"bg_threshold": 0.4, "confidence": 0.0}
    assert RefineCandidate("power", 2.0, 0.95).overrides == {"alpha": 2.0, "confidence": 0.95}
