"""Seed sources (config seeds): the training-free CLIP sources need no CAM network, and every listed source
is scored side by side while only the refined one feeds the pseudo-labels."""

import json
import subprocess

import pytest
import yaml
from conftest import REPO, write_tiny_voc
from workflow_helpers import place_released_files, planned_jobs, shipped, snakemake, snakemake_command

from wsss.config import effective_config

CAM_TRAINING = {"train_cam", "train_clims", "import_released_cam", "make_cam"}


def layered(*names: str) -> dict:
    """The shipped config files merged in order, as a --configfile list would (manifest path absolute)."""
    config = effective_config([REPO / "configs" / f"{name}.yaml" for name in names])
    config["dataset"]["manifest"] = str(REPO / config["dataset"]["manifest"])
    return config


def test_the_clip_es_voc_config_plans_no_cam_training(tmp_path):
    root = tmp_path / "VOCdevkit" / "VOC2012"
    ids = write_tiny_voc(root, n=4)
    for split in ("train_aug", "val"):
        (root / "ImageSets" / "Segmentation" / f"{split}.txt").write_text("\n".join(ids) + "\n")
    config = place_released_files(tmp_path, layered("voc12", "voc12_clip_es"))
    config["dataset"]["root"] = str(root)
    jobs = planned_jobs(snakemake(tmp_path, config, "-n"))
    assert CAM_TRAINING.isdisjoint(jobs) and "train_irn" not in jobs
    assert jobs["make_clip_cams"] == 2 and jobs["eval_cam"] == 2  # CLIP-ES and MaskCLIP, each scored
    assert jobs["make_pseudo_labels"] == 1 and jobs["train_seg"] == 1


def test_the_demo_scores_every_source_and_refines_clims(tmp_path):
    jobs = planned_jobs(snakemake(tmp_path, shipped("demo"), "-n"))
    assert jobs["eval_cam"] == 4 and jobs["gather_cams"] == 4
    assert jobs["make_cam"] == 2 and jobs["make_clip_cams"] == 2 and jobs["train_demo_clip_vit"] == 1


def test_a_refined_source_outside_the_sources_is_refused(tmp_path):
    config = shipped("micro")
    config["seeds"] = {"sources": ["baseline"], "refine_from": "clip_es"}
    result = subprocess.run(snakemake_command(tmp_path, config, "-n"), capture_output=True, text=True, timeout=600)
    assert result.returncode != 0
    assert "seeds.refine_from is clip_es, which is not in seeds.sources" in result.stdout + result.stderr


@pytest.mark.slow
def test_micro_run_from_clip_seeds_alone_trains_no_cam_network(tmp_path):
    config = shipped("micro")
    config["seeds"] = {"sources": ["clip_es", "maskclip"], "refine_from": "clip_es"}
    config["eval_cam"]["alphas"] = [1, 2]
    config["refine"] = {"method": "crf", "background": "power", "alpha": 1, "confidence": 0.5}
    config["segmenter"]["iterations"] = 2
    snakemake(tmp_path, config)
    results = tmp_path / "results" / "micro"
    assert not (results / "models" / "baseline_cam.pt").exists() and not (results / "models" / "clims_cam.pt").exists()
    for source in ("clip_es", "maskclip"):
        seeds = json.loads((results / "seeds" / f"{source}.json").read_text())
        assert seeds["source"] == source and [e["alpha"] for e in seeds["power_background"]] == [1, 2]
        assert len(list((results / "cams" / source).glob("*.npz"))) == 24
    labels = json.loads((results / "evaluation" / "pseudo_labels.json").read_text())
    assert 0 <= labels["train"]["summary"]["mIoU"] <= 100 and labels["train"]["coverage"] < 1  # 255 where unsure
    assert yaml.safe_load((results / "config.yaml").read_text())["seeds"]["refine_from"] == "clip_es"
    assert json.loads((results / "evaluation" / "segmenter.json").read_text())["split"] == "val"
