"""tools/seed_spread.py: the per-seed overlays and the spread table, on synthetic run folders."""

import json
import statistics

import pytest
import yaml
from conftest import REPO, load_tool, write_benchmark

from wsss.config import effective_config

seed_spread = load_tool("seed_spread")


def fake_run(folder, baseline, clims, labels, segmenter, seconds):
    """A finished run's reports with these val mIoUs (leaks: a tenth of the mIoU, as fractions)."""
    for sub in ("seeds", "evaluation", "benchmarks"):
        (folder / sub).mkdir(parents=True)
    sources = {"sources": ["baseline", "clims"]}
    (folder / "config.yaml").write_text(yaml.safe_dump({"dataset": {"eval_split": "val"}, "seeds": sources}))
    for method, miou in (("baseline", baseline), ("clims", clims)):
        report = {
            "best_of_sweep": {"summary": {"mIoU": miou}},
            "cooccurring_background_labelled_as_object": {"best_of_sweep": {"overall": miou / 1000}},
        }
        (folder / "seeds" / f"{method}.json").write_text(json.dumps(report))
    leak = {"cooccurring_background_labelled_as_object": {"overall": labels / 1000}}
    pseudo = {"train": {"summary": {"mIoU": 99.0}}, "val": {"summary": {"mIoU": labels}, **leak}}
    (folder / "evaluation" / "pseudo_labels.json").write_text(json.dumps(pseudo))
    leak = {"cooccurring_background_labelled_as_object": {"overall": segmenter / 1000}}
    modes = {"single_scale": {"summary": {"mIoU": 0.0}}, "multi_scale": {"summary": {"mIoU": segmenter}, **leak}}
    (folder / "evaluation" / "segmenter.json").write_text(json.dumps({"headline": "multi_scale", "modes": modes}))
    for rule, wall in seconds.items():
        write_benchmark(folder / "benchmarks", rule, wall, 100)
    return folder


def row(text, name):
    return next(line for line in text.splitlines() if line.startswith(f"| {name} |")).split(" | ")


def test_the_table_gives_mean_and_sample_sd_of_each_figure_and_rule(tmp_path):
    runs = [
        fake_run(tmp_path / "demo_seed0", 40.0, 45.0, 55.0, 60.0, {"train_cam": 100, "train_seg": 300}),
        fake_run(tmp_path / "demo_seed1", 42.0, 44.0, 56.0, 57.0, {"train_cam": 110, "train_seg": 310}),
        fake_run(tmp_path / "demo_seed2", 38.0, 49.0, 54.0, 63.0, {"train_cam": 90, "train_seg": 290}),
    ]
    text = seed_spread.table(runs)
    clims = row(text, "clims seeds mIoU")
    assert clims[1] == f"{statistics.fmean([45, 44, 49]):.2f} ± {statistics.stdev([45, 44, 49]):.2f}"
    assert clims[2:] == ["45.00", "44.00", "49.00 |"]
    gain = [5.0, 2.0, 11.0]  # CLIMS minus baseline, per seed: the paired difference, not a difference of means
    assert row(text, "CLIMS - baseline seeds mIoU")[1] == f"{statistics.fmean(gain):.2f} ± {statistics.stdev(gain):.2f}"
    assert row(text, "pseudo-labels mIoU")[1] == "55.00 ± 1.00"  # val, not train's 99
    assert row(text, "segmenter - pseudo-labels mIoU")[2:] == ["5.00", "1.00", "9.00 |"]
    assert row(text, "baseline seeds leak %")[2] == "4.00"
    assert row(text, "pseudo-labels leak %")[2:] == ["5.50", "5.60", "5.40 |"]
    assert row(text, "segmenter leak %")[1] == "6.00 ± 0.30"
    assert row(text, "train_seg")[1] == "300.00 ± 10.00"
    assert row(text, "all rules")[2:] == ["400.00", "420.00", "380.00 |"]


def test_one_run_is_said_to_be_one_run(tmp_path):
    run = fake_run(tmp_path / "demo", 40.0, 45.0, 55.0, 60.0, {"train_cam": 100})
    assert row(seed_spread.table([run]), "segmenter mIoU")[1] == "60.00 (one run)"


def test_an_unfinished_run_is_named_with_the_missing_report(tmp_path):
    run = fake_run(tmp_path / "demo", 40.0, 45.0, 55.0, 60.0, {"train_cam": 100})
    (run / "evaluation" / "segmenter.json").unlink()
    with pytest.raises(SystemExit, match=r"demo/evaluation/segmenter.json: missing"):
        seed_spread.table([run])


def test_an_overlay_changes_the_training_seeds_and_the_run_name_only(tmp_path):
    demo = REPO / "configs" / "demo.yaml"
    base = effective_config([demo])
    overlay = tmp_path / "seed3.yaml"
    overlay.write_text(yaml.safe_dump(seed_spread.seed_overlay(3, base["run_name"])))
    config = effective_config([demo, overlay])  # merged as Snakemake merges --configfile files, and validated
    assert {key for key in config if config[key] != base[key]} == {"run_name", *seed_spread.TRAINING_SECTIONS}
    assert config["run_name"] == "demo_seed3"
    for section in seed_spread.TRAINING_SECTIONS:
        assert config[section] == {**base[section], "seed": 3}
