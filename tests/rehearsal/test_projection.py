"""The rehearsal's projection: each rule's rate at real shapes times the full run's work."""

import json

import pytest
import yaml
from conftest import REPO, load_tool, write_benchmark

from wsss.config import effective_config

rehearsal_table = load_tool("rehearsal_table")


def fake_rehearsal(folder, overlay, real, splits, seconds):
    (folder / "benchmarks").mkdir(parents=True)
    (folder / "dataset").mkdir()
    config = effective_config([REPO / "configs" / f"{name}.yaml" for name in (real, overlay)])
    (folder / "config.yaml").write_text(yaml.safe_dump(config))
    (folder / "dataset" / "summary.json").write_text(
        json.dumps({"splits": {name: {"images": count} for name, count in splits.items()}})
    )
    for rule, wall in seconds.items():
        write_benchmark(folder / "benchmarks", rule, wall, 2048)


def test_training_projects_over_images_and_epochs_and_the_segmenter_over_iterations(tmp_path):
    splits = {"train_aug": 10, "train": 4, "val": 3}
    fake_rehearsal(
        tmp_path, "rehearse_voc12", "voc12", splits, {"train_clims": 100.0, "train_seg": 60.0, "eval_seg": 30.0}
    )
    name, rows = rehearsal_table.projection_rows(tmp_path)
    by_rule = {row["rule"]: row for row in rows}
    assert name == "voc12"
    # 10 images x 1 rehearsal epoch in 100 s; the real run: 10,582 images x 15 epochs.
    assert by_rule["train_clims"]["full_hours"] == pytest.approx(10.0 * 10582 * 15 / 3600)
    iterations = yaml.safe_load((tmp_path / "config.yaml").read_text())["segmenter"]["iterations"]
    assert by_rule["train_seg"]["full_hours"] == pytest.approx(60.0 / iterations * 30000 / 3600)
    assert by_rule["eval_seg"]["full_units"] == 1449 and by_rule["eval_seg"]["rss_gib"] == pytest.approx(2.0)
