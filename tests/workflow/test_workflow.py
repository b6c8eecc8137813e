"""The Snakemake workflow: dry runs of the shipped configs, and one real run of the micro config."""

import copy
import json
import re

import pytest
import yaml
from conftest import write_tiny_voc
from workflow_helpers import AFTER_CAMS, REPORT, place_released_files, planned_jobs, shipped, snakemake


def test_demo_dry_run_shows_the_dag(tmp_path):
    jobs = planned_jobs(snakemake(tmp_path, shipped("demo"), "-n"))
    assert jobs == {
        "make_demo_world": 1,
        "draw_demo_world": 1,
        "list_dataset": 6,  # images, labels and masks of the train and val splits
        "check_dataset": 2,  # each split
        "summarize_dataset": 1,
        "train_demo_clip": 1,
        "train_demo_clip_vit": 1,  # the ViT CLIP of the training-free sources
        "check_clip_classes": 3,  # the CLIP of CLIMS, CLIP-ES and MaskCLIP
        "train_cam": 1,
        "train_clims": 1,
        "make_cam": 2,  # baseline and CLIMS
        "make_clip_cams": 2,  # CLIP-ES and MaskCLIP
        "gather_cams": 4,
        "eval_cam": 4,
        "make_pseudo_labels": 1,
        "gather_pseudo_labels": 1,
        "eval_labels": 1,
        "preview_labels": 1,
        "train_seg": 1,
        "eval_seg": 1,
        "gather_eval_seg": 1,
        "write_config": 1,
        "report_demo_clip": 1,
        **REPORT,
        "all": 1,
    }


def test_irn_refinement_adds_ir_labels_and_irn(tmp_path):
    config = shipped("demo")
    config["refine"]["method"] = "irn"
    jobs = planned_jobs(snakemake(tmp_path, config, "-n"))
    assert jobs["ir_label"] == 1 and jobs["train_irn"] == 1 and jobs["make_pseudo_labels"] == 1
    assert jobs["gather_ir_labels"] == 1 and jobs["gather_pseudo_labels"] == 1
    assert jobs["eval_labels"] == 2 and jobs["preview_labels"] == 2


def test_sharded_stages_plan_one_job_per_shard_and_one_gather(tmp_path):
    config = shipped("demo")
    config["refine"]["method"] = "irn"
    config["seeds"]["sources"] = ["baseline", "clims"]
    config["shards"] = {"make_cam": 3, "ir_label": 3, "make_pseudo_labels": 3, "eval_seg": 3}
    result = snakemake(tmp_path, config, "-n")
    jobs = planned_jobs(result)
    assert jobs["make_cam"] == 6 and jobs["gather_cams"] == 2  # 3 shards of each CAM model
    assert jobs["ir_label"] == 3 and jobs["gather_ir_labels"] == 1
    assert jobs["make_pseudo_labels"] == 3 and jobs["gather_pseudo_labels"] == 1
    assert jobs["eval_seg"] == 3 and jobs["gather_eval_seg"] == 1
    text = result.stdout + result.stderr
    for shard in range(3):
        assert f"results/demo/shards/cams/clims/{shard}" in text and f"results/demo/shards/ir_labels/{shard}" in text


def test_voc_dry_run_uses_the_user_root_and_never_generates_data(tmp_path):
    root = tmp_path / "VOCdevkit" / "VOC2012"
    ids = write_tiny_voc(root, n=4)
    for split in ("train_aug", "val"):
        (root / "ImageSets" / "Segmentation" / f"{split}.txt").write_text("\n".join(ids) + "\n")
    config = place_released_files(tmp_path, shipped("voc12"))
    config["dataset"]["root"] = str(root)
    jobs = planned_jobs(snakemake(tmp_path, config, "-n"))
    assert "make_demo_world" not in jobs and "train_demo_clip" not in jobs
    assert jobs["check_dataset"] == 3 and jobs["train_clims"] == 1 and jobs["make_cam"] == 1  # train_aug, train, val


@pytest.mark.slow
def test_micro_run_end_to_end_then_reruns_only_what_a_change_affects(micro_run):
    tmp_path, config = micro_run[0], copy.deepcopy(micro_run[1])
    results = tmp_path / "results" / "micro"
    summary = json.loads((results / "dataset" / "summary.json").read_text())
    assert summary["splits"]["train"]["images"] == 24 and summary["splits"]["val"]["images"] == 12
    assert (results / "demo_world" / "contact_sheet.png").stat().st_size > 1000
    assert yaml.safe_load((results / "config.yaml").read_text())["run_name"] == "micro"
    jobs = planned_jobs(snakemake(tmp_path, config, "-n", "-F"))
    for rule, count in jobs.items():
        if rule == "all":
            continue
        logs = [p for p in (results / "logs").glob(f"{rule}*.log") if p.stat().st_size > 0]
        benchmarks = list((results / "benchmarks").glob(f"{rule}*.tsv"))
        assert len(logs) == count and len(benchmarks) == count, rule
    for model in ("baseline", "clims"):
        seeds = json.loads((results / "seeds" / f"{model}.json").read_text())
        assert 0 <= seeds["at_threshold"]["summary"]["mIoU"] <= 100
        assert "cooccurring_background_labelled_as_object" in seeds
        assert len(list((results / "cams" / model).glob("*.npz"))) == 24  # train split (also the seed split)
    for folder in ("ir_labels", "pseudo_labels"):
        assert len(list((results / folder).glob("*.png"))) == 24 and (results / folder / "README.txt").is_file()
        scores = json.loads((results / "evaluation" / f"{folder}.json").read_text())
        assert 0 <= scores["train"]["summary"]["mIoU"] <= 100 and 0 < scores["train"]["coverage"] <= 1
        previews = results / f"{folder}_preview"
        assert len(list(previews.glob("train_*.png"))) == 4 and (previews / "contact_sheet.png").stat().st_size > 1000
    segmenter = json.loads((results / "evaluation" / "segmenter.json").read_text())
    assert segmenter["split"] == "val" and segmenter["backbone_init"] == "random"
    assert len(segmenter["modes"]) == 3 and len(list((results / "segmenter_predictions").glob("val_*.png"))) == 12

    assert planned_jobs(snakemake(tmp_path, config, "-n")) == {}
    config["eval_cam"]["bg_threshold"] = 0.3  # only the seed evaluations read it
    assert planned_jobs(snakemake(tmp_path, config, "-n")) == {"eval_cam": 2, "write_config": 1, **REPORT, "all": 1}
    config["clims"]["alpha"] = 5.0  # CLIMS and everything after it, not the baseline
    assert planned_jobs(snakemake(tmp_path, config, "-n")) == {
        "train_clims": 1,
        "make_cam": 1,
        "gather_cams": 1,
        "eval_cam": 2,
        **AFTER_CAMS,
        "write_config": 1,
        **REPORT,
        "all": 1,
    }
    config = shipped("micro")
    config["refine"]["bg_threshold"] = 0.3  # the walk's background plane: pseudo-labels only
    assert planned_jobs(snakemake(tmp_path, config, "-n")) == {
        "make_pseudo_labels": 1,
        "gather_pseudo_labels": 1,
        "eval_labels": 1,
        "preview_labels": 1,
        "train_seg": 1,
        "eval_seg": 1,
        "gather_eval_seg": 1,
        "write_config": 1,
        **REPORT,
        "all": 1,
    }
    config = shipped("micro")
    config["eval_seg"]["scales"] = [1.0]  # a test-time setting: the segmenter's evaluation only
    assert planned_jobs(snakemake(tmp_path, config, "-n")) == {
        "eval_seg": 1,
        "gather_eval_seg": 1,
        "write_config": 1,
        **REPORT,
        "all": 1,
    }


CUDA_RULES = {
    "check_clip_classes",
    "choose_refine_settings",
    "train_demo_clip",
    "train_demo_clip_vit",
    "train_cam",
    "train_clims",
    "make_cam",
    "make_clip_cams",
    "train_irn",
    "train_seg",
    "eval_seg",
}


def planned_resources(result) -> dict[str, dict[str, str]]:
    """Rule -> its resources as a dry run prints them (one entry per rule)."""
    text = result.stdout + result.stderr
    found = {}
    for match in re.finditer(r"^(?:local)?rule (\w+):\n(?:    .*\n)*?    resources: (.*)$", text, re.M):
        found[match.group(1)] = dict(item.split("=", 1) for item in match.group(2).split(", "))
    return found


@pytest.mark.parametrize("method", ["crf", "irn"])
def test_every_rule_declares_memory_and_time_and_cuda_rules_a_gpu(tmp_path, method):
    config = shipped("demo")
    config["refine"]["method"] = method
    config["reward"] = {"choose": method == "crf"}  # the CRF's settings chosen by CLIP's reward
    result = snakemake(tmp_path, config, "-n")
    resources = planned_resources(result)
    resources.pop("all")
    assert set(resources) == set(planned_jobs(result)) - {"all"}
    for rule, declared in resources.items():
        assert int(declared["mem_mb"]) > 0 and int(declared["runtime"]) > 0, rule
        uses_gpu = rule in CUDA_RULES or (rule == "make_pseudo_labels" and method == "irn")
        assert int(declared.get("gpu", 0)) == int(uses_gpu), rule
