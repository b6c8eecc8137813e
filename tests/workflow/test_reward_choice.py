"""The CRF refinement's settings chosen by CLIP's reward (config reward): planned where asked for, refused on
the IRN route, scored against the masks where they exist, and used by make_pseudo_labels."""

import json
import subprocess

import numpy as np
import pytest
from conftest import load_stage
from workflow_helpers import planned_jobs, shipped, snakemake, snakemake_command

from wsss.config import validate_config
from wsss.data.cam_io import CamRecord, load_cam, save_cam
from wsss.data.images import read_label_map, read_rgb
from wsss.data.manifest import DatasetManifest
from wsss.data.voc_dataset import VOCDataset
from wsss.refine.cam_to_labels import crf_pseudo_labels
from wsss.refine.crf import CRFParams

CHOOSE = {"choose": True, "bg_thresholds": [0.2, 0.5, 0.8], "confidences": [0.0, 0.5], "images": 6}


def _settings(row: dict) -> dict:
    return {"bg_threshold": row["bg_threshold"], "confidence": row["confidence"]}


def test_a_reward_choice_is_planned_before_the_pseudo_labels(tmp_path):
    config = shipped("micro") | {"refine": {"method": "crf"}, "reward": CHOOSE}
    jobs = planned_jobs(snakemake(tmp_path, config, "-n", "--until", "make_pseudo_labels"))
    assert jobs["choose_refine_settings"] == 1 and jobs["make_pseudo_labels"] == 1
    assert "choose_refine_settings" not in planned_jobs(
        snakemake(tmp_path, shipped("micro") | {"refine": {"method": "crf"}}, "-n")
    )


def test_a_reward_choice_on_the_irn_route_is_refused(tmp_path):
    config = shipped("micro") | {"reward": {"choose": True}}
    result = subprocess.run(snakemake_command(tmp_path, config, "-n"), capture_output=True, text=True, timeout=600)
    assert result.returncode != 0 and "reward.choose picks the CRF's background" in result.stdout + result.stderr


def _cams_from_masks(root, manifest, folder):
    """CAMs of the micro world's training images that peak at 0.65 on each class's true pixels, with noise (the
    micro run's one-epoch CAMs are flat): thresholds above and below the peak give other pseudo-labels."""
    dataset = VOCDataset(root, manifest, "train")
    rng = np.random.default_rng(0)
    folder.mkdir()
    for image_id in dataset.ids:
        mask, keys = dataset.read_mask(image_id), np.flatnonzero(dataset.class_labels(image_id))
        cam = np.stack([0.65 * (mask == k + 1) + 0.1 * rng.random(mask.shape) for k in keys]).astype(np.float32)
        save_cam(folder, image_id, CamRecord(keys, cam, cam[:, ::4, ::4]))
    return folder


@pytest.mark.slow
def test_the_choice_is_scored_on_the_masks_and_used_by_the_pseudo_labels(micro_run, tmp_path):
    workdir, config = micro_run
    config = validate_config(config)
    root = workdir / config["dataset"]["root"]
    cams = _cams_from_masks(root, DatasetManifest.load(config["dataset"]["manifest"]), tmp_path / "cams")
    report = tmp_path / "settings" / "refine.json"
    refine = config["refine"] | {"method": "crf"}
    load_stage("choose_refine_settings").choose_refine_settings(
        str(root),
        config["dataset"]["manifest"],
        str(cams),
        str(report),
        split="train",
        source="clims",
        refine=refine,
        crf=config["crf"],
        clip_model=str(workdir / config["clip"]["model"]),
        clip_download_root=str(tmp_path),
        masks=True,
        **CHOOSE,
    )
    chosen = json.loads(report.read_text())
    rows = chosen["candidates"]
    assert [(r["bg_threshold"], r["confidence"]) for r in rows] == [(t, c) for t in (0.2, 0.5, 0.8) for c in (0.0, 0.5)]
    assert chosen["images"] == chosen["images_with_masks"] == 6 and chosen["pairs"] >= 6
    assert all(0 <= r["wins"] <= chosen["pairs"] and 0 <= r["mIoU"] <= 100 for r in rows)
    best = max(r["wins"] for r in rows)
    assert chosen["chosen"] in [_settings(r) for r in rows if r["wins"] == best]
    assert chosen["mask_best"] in [_settings(r) for r in rows if r["mIoU"] == max(r["mIoU"] for r in rows)]
    assert len({r["mIoU"] for r in rows}) > 1

    labels = tmp_path / "pseudo_labels"
    load_stage("make_pseudo_labels").make_pseudo_labels(
        str(root),
        config["dataset"]["manifest"],
        str(cams),
        str(labels),
        ["train"],
        crf=config["crf"],
        chosen=str(report),
        **refine,
    )
    assert str(report) in (labels / "README.txt").read_text()
    manifest = DatasetManifest.load(config["dataset"]["manifest"])
    image_id = sorted(p.stem for p in labels.glob("*.png"))[0]
    record = load_cam(cams, image_id)
    expected = crf_pseudo_labels(
        read_rgb(root / manifest.image_dir / f"{image_id}.jpg"),
        record.cam,
        record.keys,
        CRFParams(**config["crf"]),
        "threshold",
        chosen["chosen"]["bg_threshold"],
        confidence=chosen["chosen"]["confidence"],
    )
    assert np.array_equal(read_label_map(labels / f"{image_id}.png"), expected)
