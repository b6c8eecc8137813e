"""Image labels from CLIP: the softmax over class and background prompts, the threshold (one number, or
each class's split of the scores), and the precision and recall against true labels."""

import numpy as np
import pytest
import torch
from seed_helpers import ColourClip

from wsss.errors import ConfigError
from wsss.models.clip_scorer import CLIP_MEAN, CLIP_STD, ClipScorer
from wsss.seeds.image_labels import (
    check_prompts,
    class_probabilities,
    label_thresholds,
    labels_from_probabilities,
    micro_precision_recall,
    precision_recall,
    split_thresholds,
)


def _scorer():
    # class prompts: red, green; background prompt: blue
    return ClipScorer(ColourClip(), ["a photo of red.", "a photo of green."], ["a photo of blue."], input_mode="clip")


def _expected(rgb):
    colour = (torch.tensor(rgb, dtype=torch.float32) / 255 - torch.tensor(CLIP_MEAN)) / torch.tensor(CLIP_STD)
    return (10 * torch.nn.functional.normalize(colour, dim=0)).softmax(dim=0)[:2].numpy()


def test_probabilities_are_the_classes_share_of_a_softmax_over_classes_and_background_at_clip_s_scale():
    images = {"r": (250, 10, 10), "g": (10, 250, 10), "b": (10, 10, 250)}
    probabilities = class_probabilities(
        _scorer(), lambda i: np.full((12, 20, 3), images[i], dtype=np.uint8), list(images), batch_size=2
    )
    expected = np.stack([_expected(rgb) for rgb in images.values()])
    np.testing.assert_allclose(probabilities, expected, rtol=1e-5)
    assert probabilities[0].argmax() == 0 and probabilities[1].argmax() == 1 and probabilities[2].sum() < 0.05


def test_batches_do_not_change_the_probabilities():
    rng = np.random.default_rng(0)
    images = {str(i): rng.integers(0, 255, size=(10 + i, 14, 3), dtype=np.uint8) for i in range(5)}
    one = class_probabilities(_scorer(), images.__getitem__, list(images), batch_size=1)
    three = class_probabilities(_scorer(), images.__getitem__, list(images), batch_size=3)
    np.testing.assert_allclose(one, three, rtol=1e-6)


def test_a_class_is_present_from_the_threshold_on_and_keep_top_adds_each_image_s_best():
    probabilities = np.array([[0.5, 0.3, 0.1], [0.2, 0.1, 0.25], [0.3, 0.3, 0.0]])
    assert labels_from_probabilities(probabilities, 0.3, keep_top=False).tolist() == [
        [True, True, False],
        [False, False, False],
        [True, True, False],
    ]
    assert labels_from_probabilities(probabilities, 0.3, keep_top=True)[1].tolist() == [False, False, True]


def _log_odds(p):
    return np.log(p) - np.log1p(-p)


def _between_group_spread(values, cut):
    below, above = values[:cut], values[cut:]
    return len(below) * len(above) * (above.mean() - below.mean()) ** 2


def test_the_split_falls_halfway_between_two_clusters_of_log_odds():
    absent, present = np.array([0.001, 0.002, 0.004, 0.003]), np.array([0.2, 0.5, 0.35])
    probabilities = np.stack([np.concatenate([absent, present]), np.concatenate([present, absent])], axis=1)
    thresholds = split_thresholds(probabilities)
    np.testing.assert_allclose(_log_odds(thresholds[0]), (_log_odds(0.004) + _log_odds(0.2)) / 2)
    np.testing.assert_allclose(_log_odds(thresholds[1]), (_log_odds(0.004) + _log_odds(0.2)) / 2)
    labels = labels_from_probabilities(probabilities, thresholds, keep_top=False)
    assert labels[:, 0].tolist() == [False] * 4 + [True] * 3 and labels[:, 1].tolist() == [True] * 3 + [False] * 4


def test_the_split_is_the_cut_with_the_largest_between_group_spread():
    rng = np.random.default_rng(3)
    probabilities = np.concatenate([rng.beta(0.3, 8, size=(40, 3)), rng.beta(4, 3, size=(9, 3))])
    probabilities[:5, 2] = 0.0  # clipped at the floor: ties that no cut may split
    thresholds = split_thresholds(probabilities, floor=1e-4)
    for k in range(3):
        values = np.sort(_log_odds(np.clip(probabilities[:, k], 1e-4, 1 - 1e-4)))
        cuts = [c for c in range(1, len(values)) if values[c] != values[c - 1]]
        best = max(cuts, key=lambda c: _between_group_spread(values, c))
        np.testing.assert_allclose(_log_odds(thresholds[k]), (values[best - 1] + values[best]) / 2)
        assert (probabilities[:, k] >= thresholds[k]).sum() == len(values) - best


def test_a_class_every_photo_scores_alike_gets_no_photo_from_the_split():
    probabilities = np.array([[0.3, 0.2], [0.3, 0.6], [0.3, 0.1]])
    thresholds = split_thresholds(probabilities)
    assert thresholds[0] > 1 and 0.2 < thresholds[1] < 0.6
    assert not labels_from_probabilities(probabilities, thresholds, keep_top=False)[:, 0].any()


def test_the_setting_gives_one_threshold_for_all_classes_or_each_class_s_split():
    probabilities = np.array([[0.01, 0.9], [0.02, 0.8], [0.6, 0.01], [0.5, 0.02]])
    assert label_thresholds(probabilities, 0.25).tolist() == [0.25, 0.25]
    np.testing.assert_array_equal(label_thresholds(probabilities, "split"), split_thresholds(probabilities))


def test_precision_and_recall_per_class():
    predicted = np.array([[1, 1, 0], [1, 0, 0], [0, 1, 0]], dtype=bool)
    truth = np.array([[1, 0, 0], [1, 0, 0], [1, 1, 0]], dtype=bool)
    scores = precision_recall(predicted, truth)
    np.testing.assert_allclose(scores["precision"], [1.0, 0.5, np.nan])
    np.testing.assert_allclose(scores["recall"], [2 / 3, 1.0, np.nan])
    assert scores["predicted"].tolist() == [2, 2, 0] and scores["present"].tolist() == [3, 1, 0]
    overall = micro_precision_recall(predicted, truth)
    assert overall["precision"] == 3 / 4 and overall["recall"] == 3 / 4 and overall["f1"] == pytest.approx(3 / 4)


def test_a_prompt_longer_than_clip_reads_is_refused_naming_the_class_and_key():
    long_name = " ".join(["very"] * 80) + " long cat"
    with pytest.raises(ConfigError, match=r"folder.classes: 'cat2' makes the prompt .* longer than the 77 tokens"):
        check_prompts(["a photo of dog.", f"a photo of {long_name}."], ["dog", "cat2"], "folder.classes", 77)
    assert check_prompts(["a photo of dog."], ["dog"], "folder.classes", 77) == ["a photo of dog."]
