"""Confusion matrices and the IoU / Acc / Prec table, on counts worked out by hand."""

import numpy as np
import pytest

from wsss.evaluation.metrics import confusion_matrix, format_table, scores_from_confusion


def test_confusion_counts_rows_as_truth_and_skips_ignore():
    truth = np.array([[0, 0, 1], [1, 255, 2]], dtype=np.uint8)
    prediction = np.array([[0, 1, 1], [2, 2, 2]], dtype=np.uint8)
    confusion = confusion_matrix(prediction, truth, 3)
    assert confusion.tolist() == [[1, 1, 0], [0, 1, 1], [0, 0, 1]]
    prediction[0, 1] = 255  # an unsure pseudo-label pixel: scored nowhere
    assert confusion_matrix(prediction, truth, 3).tolist() == [[1, 0, 0], [0, 1, 1], [0, 0, 1]]
    with pytest.raises(ValueError, match="differ in size"):
        confusion_matrix(prediction[:1], truth, 3)


def test_scores_by_hand_and_classes_absent_everywhere_left_out():
    confusion = np.array([[1, 1, 0, 0], [0, 1, 1, 0], [0, 0, 1, 0], [0, 0, 0, 0]])
    scores = scores_from_confusion(confusion, ["background", "cat", "dog", "cow"])
    # IoU: background 1/(2+1-1) = 50%, cat 1/(2+2-1) = 33.33%, dog 1/(1+2-1) = 50%; cow never seen.
    assert [scores["per_class"][n]["IoU"] for n in ("background", "cat", "dog")] == [50.0, 33.33, 50.0]
    assert scores["per_class"]["cow"] == {"IoU": None, "Acc": None, "Prec": None}
    assert scores["summary"] == {"aAcc": 60.0, "mIoU": 44.44, "mAcc": 66.67, "mPrec": 66.67}
    table = format_table(scores, "title")
    assert table.startswith("title\n") and "cow" in table and "mIoU: 44.44" in table
