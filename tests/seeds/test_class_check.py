"""Does CLIP know the classes: the AUROC of a class's probability against the image labels, and which
classes are named as weak."""

import numpy as np

from wsss.seeds.class_check import class_auroc, weak_class_warning, weak_classes


def test_auroc_is_the_share_of_with_without_pairs_ordered_right_ties_counting_half():
    # class 0: with = {0.9, 0.4}, without = {0.5, 0.1}: pairs (0.9>0.5, 0.9>0.1, 0.4<0.5, 0.4>0.1) -> 3/4
    # class 1: with = {0.3}, without = {0.3, 0.2, 0.8}: (tie, >, <) -> (0.5 + 1 + 0) / 3
    probabilities = np.array([[0.9, 0.3], [0.4, 0.3], [0.5, 0.2], [0.1, 0.8]])
    labels = np.array([[1, 1], [1, 0], [0, 0], [0, 0]], dtype=bool)
    np.testing.assert_allclose(class_auroc(probabilities, labels), [0.75, 0.5])


def test_a_perfect_a_reversed_and_an_undecidable_class():
    probabilities = np.array([[0.9, 0.1, 0.5], [0.8, 0.2, 0.5], [0.1, 0.9, 0.5]])
    labels = np.array([[1, 1, 1], [1, 1, 1], [0, 0, 1]], dtype=bool)
    auroc = class_auroc(probabilities, labels)
    assert auroc[0] == 1.0 and auroc[1] == 0.0 and np.isnan(auroc[2])


def test_weak_classes_are_those_under_the_threshold_and_the_warning_says_what_it_means():
    assert weak_classes(np.array([0.95, 0.6, np.nan, 0.75]), ["a", "b", "c", "d"], 0.75) == ["b"]
    text = weak_class_warning("b", 0.6, 0.75, "ViT-B/16")
    assert "'b'" in text and "AUROC 0.60 < clip_check.threshold 0.75" in text and "CLIMS may score below" in text
