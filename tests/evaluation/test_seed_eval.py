"""The seed report leads with the fixed background threshold (the reference's figure), not the sweep's best."""

import numpy as np
import pytest
from conftest import tiny_manifest

from wsss.data.cam_io import CamRecord, save_cam
from wsss.data.voc_dataset import VOCDataset
from wsss.evaluation.metrics import scores_from_confusion
from wsss.evaluation.seed_eval import (
    evaluate_seeds,
    power_background_threshold,
    seed_labels,
    seed_report,
    seed_table,
    threshold_grid,
)

NAMES = ["background", "cat", "diningtable"]


@pytest.fixture
def seeds(tiny_voc, tmp_path):
    """CAMs of 1.0 on each object and 0.3 on a band around it: 0.15 spills onto the band, 0.35 does not."""
    root, ids = tiny_voc
    dataset = VOCDataset(root, tiny_manifest(), "train")
    cams = tmp_path / "cams"
    for image_id, row in zip(dataset.ids, dataset.label_matrix()):
        cam = np.zeros((1, 20, 30), dtype=np.float32)
        cam[0, 2:18, 2:23] = 0.3
        cam[0, 5:15, 5:20] = 1.0
        save_cam(cams, image_id, CamRecord(keys=np.flatnonzero(row), cam=cam, cam_stride4=cam[:, ::4, ::4]))
    return dataset, cams


def test_fixed_threshold_entry_is_a_direct_evaluation_at_that_threshold(seeds):
    dataset, cams = seeds
    thresholds = threshold_grid(0.05, 0.95, 0.05)
    confusions, _ = evaluate_seeds(dataset, cams, thresholds)
    report = seed_report(confusions, NAMES, 0.15)

    direct, _ = evaluate_seeds(dataset, cams, [0.15])
    expected = scores_from_confusion(direct[0.15], NAMES)
    assert report["at_threshold"] == {"threshold": 0.15, **expected}
    best = report["best_of_sweep"]
    assert best["threshold"] != 0.15 and best["summary"]["mIoU"] > report["at_threshold"]["summary"]["mIoU"]
    assert report["sweep"]["0.15"] == expected["summary"]["mIoU"]

    text = seed_table(report, "CAM seeds on train")
    headline, rest = text.split("\n", 1)
    assert f"mIoU {expected['summary']['mIoU']:.2f} at the background threshold 0.15" in headline
    assert f"best of the sweep {best['summary']['mIoU']:.2f} at {best['threshold']}" in headline
    assert rest.index("at the background threshold 0.15") < rest.index("best of the sweep")


def test_an_unevaluated_threshold_is_an_error(seeds):
    dataset, cams = seeds
    confusions, _ = evaluate_seeds(dataset, cams, [0.1, 0.2])
    with pytest.raises(ValueError, match="background threshold 0.15 was not evaluated"):
        seed_report(confusions, NAMES, 0.15)


@pytest.mark.parametrize(("alpha", "expected"), [(1.0, 0.5), (2.0, (3 - 5**0.5) / 2)])
def test_power_background_is_the_threshold_that_solves_one_minus_t_to_the_alpha(alpha, expected):
    # (1 - t)^1 = t at 1/2; (1 - t)^2 = t at (3 - sqrt 5) / 2 = 0.381966...
    assert power_background_threshold(alpha) == pytest.approx(expected, abs=1e-12)


def test_power_background_seeds_equal_clip_es_argmax_over_one_minus_max_to_the_alpha():
    rng = np.random.default_rng(0)
    cam = rng.random((3, 40, 50)).astype(np.float32)
    keys = np.array([0, 4, 7])
    for alpha in (1.0, 2.0):
        planes = np.concatenate([(1 - cam.max(axis=0, keepdims=True)) ** alpha, cam])
        clip_es = np.concatenate([[0], keys + 1])[planes.argmax(axis=0)]
        assert np.array_equal(seed_labels(cam, keys, power_background_threshold(alpha)), clip_es)


def test_the_report_scores_each_alpha_apart_from_the_sweep(seeds):
    dataset, cams = seeds
    alpha_two = power_background_threshold(2.0)
    confusions, _ = evaluate_seeds(dataset, cams, [0.15, 0.2, 0.5, alpha_two])
    report = seed_report(confusions, NAMES, 0.15, alphas=(1.0, 2.0))
    assert [entry["alpha"] for entry in report["power_background"]] == [1.0, 2.0]
    assert report["power_background"][1]["threshold"] == 0.382
    assert report["power_background"][1]["summary"] == scores_from_confusion(confusions[alpha_two], NAMES)["summary"]
    assert sorted(report["sweep"]) == ["0.15", "0.2", "0.5"]  # 0.381966... is not a sweep point
    assert "(1 - max CAM)^2" in seed_table(report, "seeds")
