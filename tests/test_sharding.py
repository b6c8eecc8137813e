"""Per-image stages in shards: membership by sorted id only, and N shards gathered equal to one."""

import filecmp
import json
import random
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from conftest import load_stage, train_tiny_segmenter, write_tiny_voc

from wsss.checkpoints import save_model
from wsss.models.backbone import ResNetBackbone
from wsss.models.cam_net import CAMNet
from wsss.models.irn import EdgeDisplacementNet
from wsss.sharding import gather_folders, select_shard, shard_members

IDS = [f"2007_{i:06d}" for i in range(7)]


def test_the_ith_sorted_id_goes_to_shard_i_mod_n_whatever_the_order_given():
    shuffled = random.Random(0).sample(IDS, len(IDS))
    assert [sorted(shard_members(shuffled, k, 3)) for k in range(3)] == [IDS[0::3], IDS[1::3], IDS[2::3]]
    assert shard_members(IDS, 0, 1) == set(IDS)
    assert shard_members(IDS[:2], 4, 5) == set()  # more shards than images: some are empty
    items = [f"item of {i}" for i in shuffled]
    assert select_shard(items, shuffled, 1, 3) == [f"item of {i}" for i in shuffled if i in IDS[1::3]]
    with pytest.raises(ValueError, match="shard 3 of 3"):
        shard_members(IDS, 3, 3)


def test_gather_links_the_files_keeps_one_readme_and_refuses_a_clash(tmp_path):
    for shard, names in enumerate([["a", "c"], ["b"]]):
        folder = tmp_path / f"shard{shard}"
        folder.mkdir()
        for name in names:
            (folder / f"{name}.png").write_text(name)
        (folder / "README.txt").write_text("the same in each shard")
    assert gather_folders([tmp_path / "shard0", tmp_path / "shard1"], tmp_path / "out") == 4
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["README.txt", "a.png", "b.png", "c.png"]
    assert (tmp_path / "out" / "b.png").read_text() == "b"
    (tmp_path / "shard1" / "README.txt").write_text("another")
    with pytest.raises(ValueError, match="two shards wrote different files of one name"):
        gather_folders([tmp_path / "shard0", tmp_path / "shard1"], tmp_path / "out2")
    assert not (tmp_path / "out2").exists()


def assert_same_folders(one: Path, other: Path) -> None:
    names = sorted(p.name for p in one.iterdir())
    assert names == sorted(p.name for p in other.iterdir()) and names
    match, mismatch, errors = filecmp.cmpfiles(one, other, names, shallow=False)
    assert mismatch == [] and errors == [], (mismatch, errors)


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    """A tiny VOC root (7 images), its manifest file and small CAM and IRN checkpoints."""
    tmp = tmp_path_factory.mktemp("sharding")
    root = tmp / "VOC"
    ids = write_tiny_voc(root, n=7, size=(32, 40))
    assert ids == IDS
    manifest = tmp / "manifest.yaml"
    manifest.write_text(
        yaml.safe_dump({"name": "tiny", "classes": ["cat", "diningtable"], "background_prompts": ["floor"]})
    )
    torch.manual_seed(0)
    save_model(
        tmp / "cam.pt", CAMNet(2, "resnet18", 16), {"num_classes": 2, "backbone": "resnet18", "output_stride": 16}
    )
    irn = EdgeDisplacementNet(ResNetBackbone("resnet18", 16))
    save_model(tmp / "irn.pt", irn, {"backbone": "resnet18", "output_stride": 16})
    return tmp, root, manifest


def sharded(stage, tmp: Path, name: str, count: int, output: str, **arguments) -> Path:
    """Run ``stage`` in ``count`` shards (output argument ``output``), gathered into ``tmp/name_count``."""
    folders = []
    for shard in range(count):
        folder = tmp / f"{name}_{count}_shards" / str(shard)
        stage(**arguments, **{output: str(folder)}, shard=shard, shards=count)
        folders.append(folder)
    gather_folders(folders, tmp / f"{name}_{count}")
    if count == 1:  # one shard gathered is the stage's folder unchanged
        assert_same_folders(folders[0], tmp / f"{name}_{count}")
    return tmp / f"{name}_{count}"


def test_cams_labels_and_pseudo_labels_in_three_shards_equal_one(tiny_run):
    ir_label = load_stage("ir_label").ir_label
    make_cam = load_stage("make_cam").make_cam
    make_pseudo_labels = load_stage("make_pseudo_labels").make_pseudo_labels

    tmp, root, manifest = tiny_run
    data = dict(root=str(root), manifest=str(manifest))
    cams = {}
    for count in (1, 3):
        cams[count] = sharded(
            make_cam,
            tmp,
            "cams",
            count,
            "cams",
            **data,
            checkpoint=str(tmp / "cam.pt"),
            splits=["train"],
            scales=[1.0, 0.5],
            batch_size=4,
        )
    assert_same_folders(cams[1], cams[3])
    assert len(list(cams[1].glob("*.npz"))) == 7
    labels = dict(**data, cams=str(cams[1]), splits=["train"], crf={"iterations": 2})
    for name, stage, extra in [
        ("ir", ir_label, {}),
        ("crf", make_pseudo_labels, {"method": "crf"}),
        ("walk", make_pseudo_labels, {"method": "irn", "irn": str(tmp / "irn.pt"), "exp_times": 2, "batch_size": 4}),
    ]:
        one, three = (sharded(stage, tmp, name, count, "labels", **labels, **extra) for count in (1, 3))
        assert_same_folders(one, three)
        assert len(list(one.glob("*.png"))) == 7 and (one / "README.txt").is_file()


def test_segmenter_evaluation_in_three_shards_equals_one(tiny_run):
    eval_seg = load_stage("eval_seg").eval_seg
    gather_eval_seg = load_stage("gather_eval_seg").gather_eval_seg

    tmp, root, manifest = tiny_run
    checkpoint = tmp / "segmenter.pt"
    train_tiny_segmenter(root, manifest, root / "SegmentationClass", checkpoint)
    reports = {}
    for count in (1, 3):
        out = tmp / f"eval_{count}"
        shards = [out / "shards" / str(shard) for shard in range(count)]
        for shard, folder in enumerate(shards):
            eval_seg(
                str(root),
                str(manifest),
                str(checkpoint),
                str(folder),
                str(folder) + ".npz",
                split="train",
                scales=[1.0, 0.5],
                shard=shard,
                shards=count,
            )
        gather_eval_seg(
            [str(f) for f in shards],
            [str(f) + ".npz" for f in shards],
            str(out / "predictions"),
            str(out / "report.json"),
            str(out / "table.txt"),
        )
        reports[count] = json.loads((out / "report.json").read_text())
        assert reports[count].pop("seconds") >= 0
    assert_same_folders(tmp / "eval_1" / "predictions", tmp / "eval_3" / "predictions")
    assert reports[1] == reports[3] and reports[1]["images"] == 7 and len(reports[1]["modes"]) == 3
    assert (tmp / "eval_1" / "table.txt").read_text() == (tmp / "eval_3" / "table.txt").read_text()
    confusions = [np.load(tmp / "eval_3" / "shards" / f"{shard}.npz")["confusion"] for shard in range(3)]
    assert sum(c[0].sum() for c in confusions) == 7 * 32 * 40 - 7 * 15  # every pixel once, less the 255 row
