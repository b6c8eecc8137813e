"""VOC 2012 + SBD preparation on miniature devkits in the real on-disk layout."""

import json

import numpy as np
import pytest
import scipy.io
from conftest import REPO
from PIL import Image

from wsss.data.images import read_label_map
from wsss.data.manifest import DatasetManifest
from wsss.data.prepare.voc_sbd import prepare_voc_sbd, read_sbd_mask
from wsss.data.voc_dataset import VOCDataset
from wsss.data.voc_writer import write_annotation, write_split
from wsss.errors import DatasetError
from wsss.io import save_label_png
from wsss.rehearsal.voc_sbd import write_sbd_mat

VOC_TRAIN, VOC_VAL = ["2007_000001", "2007_000002"], ["2007_000003", "2007_000004"]
SBD_TRAIN, SBD_VAL = ["2007_000002", "2008_000001", "2007_000003"], ["2008_000002"]  # 2007_000003 is VOC val


def mask_for(index: int) -> np.ndarray:
    mask = np.zeros((12, 16), dtype=np.uint8)
    mask[2:8, 3:11] = index % 20 + 1
    return mask


@pytest.fixture
def devkits(tmp_path):
    voc, sbd = tmp_path / "VOCdevkit" / "VOC2012", tmp_path / "benchmark_RELEASE" / "dataset"
    all_ids = sorted(set(VOC_TRAIN + VOC_VAL + SBD_TRAIN + SBD_VAL))
    for index, image_id in enumerate(all_ids):
        (voc / "JPEGImages").mkdir(parents=True, exist_ok=True)
        Image.fromarray(np.full((12, 16, 3), 40 * index, dtype=np.uint8)).save(voc / "JPEGImages" / f"{image_id}.jpg")
        name = ["aeroplane", "bicycle", "bird", "boat", "bottle", "bus"][index % 20 % 6]
        write_annotation(voc / "Annotations" / f"{image_id}.xml", f"{image_id}.jpg", (12, 16), [(name, (4, 3, 11, 8))])
        if image_id in VOC_TRAIN + VOC_VAL:
            save_label_png(voc / "SegmentationClass" / f"{image_id}.png", mask_for(index))
        else:
            write_sbd_mat(sbd / "cls" / f"{image_id}.mat", mask_for(index), 20)
    write_split(voc / "ImageSets" / "Segmentation" / "train.txt", VOC_TRAIN)
    write_split(voc / "ImageSets" / "Segmentation" / "val.txt", VOC_VAL)
    write_split(sbd / "train.txt", SBD_TRAIN)
    write_split(sbd / "val.txt", SBD_VAL)
    (sbd / "cls").mkdir(parents=True, exist_ok=True)
    return voc, sbd


EXPECTED = {"train": 2, "val": 2, "train_aug": 4}


def test_train_aug_is_voc_train_plus_sbd_minus_voc_val(devkits, tmp_path):
    voc, sbd = devkits
    summary = prepare_voc_sbd(voc, sbd, tmp_path / "voc12_aug", EXPECTED)
    assert summary["splits"] == EXPECTED and summary["masks"] == {"from_voc": 4, "from_sbd": 2}
    root = tmp_path / "voc12_aug"
    train_aug = (root / "ImageSets" / "Segmentation" / "train_aug.txt").read_text().split()
    assert train_aug == ["2007_000001", "2007_000002", "2008_000001", "2008_000002"]
    assert (root / "JPEGImages").is_symlink() and (root / "JPEGImages" / "2008_000001.jpg").is_file()
    all_ids = sorted(set(VOC_TRAIN + VOC_VAL + SBD_TRAIN + SBD_VAL))
    for image_id in train_aug + VOC_VAL:
        assert np.array_equal(
            read_label_map(root / "SegmentationClassAug" / f"{image_id}.png"), mask_for(all_ids.index(image_id))
        )
    # The project's reader takes the prepared root as it is, with labels from the XML files.
    dataset = VOCDataset(root, DatasetManifest.load(REPO / "data_manifest" / "voc12.yaml"), "train_aug")
    assert (
        len(dataset) == 4 and dataset.label_matrix().sum() == 4 and dataset.read_mask("2008_000002").shape == (12, 16)
    )


def test_sbd_mat_files_are_read_as_label_maps(tmp_path):
    segmentation = np.array([[0, 15], [255, 3]], dtype=np.uint8)
    write_sbd_mat(tmp_path / "a.mat", segmentation, 20)
    assert np.array_equal(read_sbd_mask(tmp_path / "a.mat"), segmentation)
    scipy.io.savemat(tmp_path / "b.mat", {"something": np.zeros(3)})
    with pytest.raises(DatasetError, match="b.mat: not an SBD class mask"):
        read_sbd_mask(tmp_path / "b.mat")


def test_wrong_counts_are_listed(devkits, tmp_path):
    voc, sbd = devkits
    with pytest.raises(DatasetError, match=r"train_aug: 4 ids, expected 10582.*set voc_sbd.expected_counts to null"):
        prepare_voc_sbd(voc, sbd, tmp_path / "out", {"train": 2, "val": 2, "train_aug": 10582})
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    "damage, message",
    [
        (lambda voc, sbd: (sbd / "cls" / "2008_000001.mat").unlink(), r"2008_000001: no mask in"),
        (lambda voc, sbd: (voc / "Annotations" / "2007_000002.xml").unlink(), r"2007_000002.xml: annotation missing"),
        (lambda voc, sbd: (voc / "JPEGImages" / "2007_000004.jpg").unlink(), r"2007_000004.jpg: image missing"),
        (
            lambda voc, sbd: [p.unlink() for p in (sbd / "cls").iterdir()] and (sbd / "cls").rmdir(),
            r"cls: folder is missing",
        ),
        (lambda voc, sbd: (sbd / "val.txt").unlink(), r"val.txt: split file is missing"),
    ],
)
def test_missing_pieces_are_named_before_anything_is_written(devkits, tmp_path, damage, message):
    voc, sbd = devkits
    damage(voc, sbd)
    with pytest.raises(DatasetError, match=message):
        prepare_voc_sbd(voc, sbd, tmp_path / "out", None)
    assert not (tmp_path / "out").exists()


def test_voc12_config_dry_run_prepares_train_aug_first(devkits, tmp_path):
    from workflow_helpers import place_released_files, planned_jobs, shipped, snakemake

    voc, sbd = devkits
    config = place_released_files(tmp_path, shipped("voc12"))
    config["voc_sbd"] = {
        "voc_root": str(voc),
        "sbd_root": str(sbd),
        "root": str(tmp_path / "voc12_aug"),
        "expected_counts": EXPECTED,
    }
    config["dataset"]["root"] = str(tmp_path / "voc12_aug")
    jobs = planned_jobs(snakemake(tmp_path, config, "-n"))
    assert jobs["prepare_voc_sbd"] == 1 and jobs["check_dataset"] == 3 and "make_demo_world" not in jobs
    assert jobs["ir_label"] == 1 and jobs["train_irn"] == 1 and jobs["train_seg"] == 1 and jobs["eval_seg"] == 1
    snakemake(tmp_path, config, "--until", "prepare_voc_sbd")
    assert json.loads((tmp_path / "voc12_aug.summary.json").read_text())["splits"] == EXPECTED
    config["run_name"] = "voc12_again"  # the prepared root is shared: a new run neither remakes nor risks it
    jobs = planned_jobs(snakemake(tmp_path, config, "-n"))
    assert "prepare_voc_sbd" not in jobs and jobs["check_dataset"] == 3


def test_without_sbd_conversion_only_voc_masks_are_written_and_sbd_masks_are_not_needed(devkits, tmp_path):
    voc, sbd = devkits
    for mat in (sbd / "cls").iterdir():
        mat.unlink()
    (sbd / "cls").rmdir()
    summary = prepare_voc_sbd(voc, sbd, tmp_path / "voc12_aug", EXPECTED, convert_sbd_masks=False)
    assert summary["splits"] == EXPECTED and summary["masks"] == {"from_voc": 4, "from_sbd": 0}
    manifest = DatasetManifest.load(REPO / "data_manifest" / "voc12.yaml")
    root = tmp_path / "voc12_aug"
    assert VOCDataset(root, manifest, "train").has_masks() and VOCDataset(root, manifest, "val").has_masks()
    train_aug = VOCDataset(root, manifest, "train_aug")
    assert not train_aug.has_masks() and train_aug.label_matrix().sum() == 4  # labels still come from the XML files
    with pytest.raises(DatasetError, match="cls: folder is missing"):
        prepare_voc_sbd(voc, sbd, tmp_path / "again", EXPECTED)  # converting needs SBD's masks
