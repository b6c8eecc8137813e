"""Folder mode end to end: a folder of photos and class names, no labels, masks or split files, runs to a
segmenter and its label maps of every photo; files that are not usable photos are named, and settings that
cannot make a dataset stop the run before any job."""

import json
import subprocess

import numpy as np
import pytest
import yaml
from conftest import REPO
from PIL import Image
from workflow_helpers import planned_jobs, shipped, snakemake, snakemake_command

MASK_SCORES = {"eval_cam", "eval_labels", "eval_seg", "gather_eval_seg"}


def _photos(folder, n=10, size=(64, 80)):
    folder.mkdir()
    rng = np.random.default_rng(0)
    for i in range(n):
        Image.fromarray(rng.integers(0, 255, size=(*size, 3), dtype=np.uint8)).save(folder / f"photo {i}.jpg")
    Image.fromarray(rng.integers(0, 255, size=(*size, 3), dtype=np.uint8)).save(folder / "drawing.png")
    (folder / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 cut short")
    (folder / "notes.txt").write_text("not a photo")
    (folder / "old").mkdir()


def _folder_config(tmp_path):
    _photos(tmp_path / "photos")
    config = shipped("micro")
    config["folder"] = {
        "images": str(tmp_path / "photos"),
        "classes": ["aeroplane", "bird", "boat", "car", "cow", "train"],
    }
    return config


def test_a_folder_run_plans_its_dataset_and_no_mask_scores(tmp_path):
    result = snakemake(tmp_path, _folder_config(tmp_path), "-n")
    jobs = planned_jobs(result)
    assert jobs["prepare_folder"] == 1 and jobs["predict_folder"] == 1 and jobs["train_seg"] == 1
    assert jobs["check_clip_classes"] == 1  # CLIMS's CLIP (the micro run's baseline needs none)
    assert MASK_SCORES.isdisjoint(jobs) and "make_demo_world" not in jobs
    assert "warning:" not in result.stderr


def test_split_labels_with_the_reward_s_choice_are_warned_about_before_any_job(tmp_path):
    config = _folder_config(tmp_path)
    config["folder"]["label_threshold"] = "split"
    config["refine"] = {"method": "crf"}
    config["reward"] = {"choose": True}
    result = snakemake(tmp_path, config, "-n")
    assert "warning: folder.label_threshold split with reward.choose" in result.stderr
    assert planned_jobs(result)["choose_refine_settings"] == 1


@pytest.mark.parametrize(
    ("folder", "message"),
    [
        ({"images": "missing_photos", "classes": ["cat"]}, "folder.images: missing_photos is not a folder"),
        ({"images": "photos", "classes": []}, "folder.classes lists no class"),
        ({"images": "photos", "classes": ["cat", "cat"]}, "class names listed twice: cat"),
    ],
)
def test_a_folder_that_cannot_make_a_dataset_stops_the_run_before_any_job(tmp_path, folder, message):
    (tmp_path / "photos").mkdir()
    config = shipped("micro") | {"folder": folder}
    result = subprocess.run(snakemake_command(tmp_path, config, "-n"), capture_output=True, text=True, timeout=600)
    assert result.returncode != 0 and message in result.stdout + result.stderr


@pytest.mark.slow
def test_micro_run_from_a_folder_of_photos(tmp_path):
    config = _folder_config(tmp_path)
    config["folder"]["label_threshold"] = "split"  # each class's cut of CLIP's scores
    config["segmenter"]["iterations"] = 2
    config["refine"] = {"method": "crf"}  # its background and confidence chosen by CLIP's reward
    config["reward"] = {"choose": True, "bg_thresholds": [0.3, 0.6], "confidences": [0.0, 0.4], "images": 5}
    snakemake(tmp_path, config)
    results = tmp_path / "results" / "micro"
    prepared = results / "dataset" / "prepared"
    ids = [f"photo_{i}" for i in range(10)]
    assert (prepared / "ImageSets" / "Segmentation" / "train.txt").read_text().split() == ["drawing", *ids]
    skipped = dict(line.split("\t") for line in (prepared / "skipped.tsv").read_text().splitlines()[1:])
    assert set(skipped) == {"broken.jpg", "notes.txt", "old"} and skipped["broken.jpg"].startswith("cannot read image")
    table = (prepared / "image_labels.tsv").read_text().splitlines()
    assert len(table) == 12 and all(row.split("\t")[5] != "-" for row in table[1:])  # every photo has its top class
    assert len(list((prepared / "Annotations").glob("*.xml"))) == 11
    summary = json.loads((results / "dataset" / "image_labels.json").read_text())
    assert summary["images"] == 11 and summary["skipped"] == 3 and sum(summary["images_per_class"].values()) >= 11
    assert summary["label_threshold"] == "split" and list(summary["label_thresholds"]) == config["folder"]["classes"]
    probabilities = np.array([[float(p) for p in row.split("\t")[6:]] for row in table[1:]])
    tops = np.zeros_like(probabilities, dtype=bool)
    tops[np.arange(11), probabilities.argmax(axis=1)] = True
    thresholds = np.array(list(summary["label_thresholds"].values()))
    counts = np.array(list(summary["images_per_class"].values()))  # the table's probabilities have 4 decimals:
    assert (counts >= ((probabilities >= thresholds + 5e-5) | tops).sum(axis=0)).all()
    assert (counts <= ((probabilities >= thresholds - 5e-5) | tops).sum(axis=0)).all()
    assert sorted(p.stem for p in (results / "segmenter_predictions").glob("*.png")) == sorted(["drawing", *ids])
    assert len(list((results / "pseudo_labels").glob("*.png"))) == 11
    assert not (results / "seeds").exists() and not (results / "evaluation").exists()
    assert "no ground-truth masks (folder mode)" in (results / "report" / "segmenter.html").read_text()
    assert "Image labels from CLIP" in (results / "report" / "dataset.html").read_text()
    assert "folder.label_threshold: split" in (results / "report" / "dataset.html").read_text()
    check = json.loads((results / "dataset" / "clip_classes" / "clims.json").read_text())
    assert check["labels"] == "CLIP's own (folder mode)" and check["images"] == 11
    assert "Does CLIP know the classes?" in (results / "report" / "dataset.html").read_text()
    chosen = json.loads((results / "settings" / "refine.json").read_text())
    assert chosen["images"] == 5 and chosen["images_with_masks"] == 0 and chosen["mask_best"] is None
    assert len(chosen["candidates"]) == 4 and "mIoU" not in chosen["candidates"][0]
    assert "refine.json" in (results / "pseudo_labels" / "README.txt").read_text()
    assert "Chosen without masks" in (results / "report" / "labels.html").read_text()
    written = yaml.safe_load((results / "config.yaml").read_text())
    assert written["dataset"]["root"] == "results/micro/dataset/prepared" and not written["dataset"]["demo_world"]


def test_the_shipped_folder_config_plans_clip_es_seeds_and_no_cam_training(tmp_path):
    _photos(tmp_path / "my_photos")
    config = yaml.safe_load((REPO / "configs" / "folder.yaml").read_text())
    config["folder"] |= {"images": str(tmp_path / "my_photos"), "classes": ["cat", "dog"]}
    jobs = planned_jobs(snakemake(tmp_path, config, "-n"))
    assert jobs["prepare_folder"] == 1 and jobs["make_clip_cams"] == 1 and jobs["check_clip_classes"] == 1
    assert {"train_cam", "train_clims", "make_cam", "train_irn"}.isdisjoint(jobs) and MASK_SCORES.isdisjoint(jobs)
    assert jobs["make_pseudo_labels"] == 1 and jobs["train_seg"] == 1 and jobs["predict_folder"] == 1
    assert jobs["choose_refine_settings"] == 1  # alpha chosen by CLIP's reward
