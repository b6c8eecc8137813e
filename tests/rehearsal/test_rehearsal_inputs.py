"""The rehearsal's miniature datasets and weight files are what the real runs read, in their formats."""

import json
import xml.etree.ElementTree as ET
import zipfile

import numpy as np
import pytest
import torch
from conftest import REPO
from PIL import Image

from wsss.checkpoints import load_checked, read_state_dict
from wsss.data.manifest import DatasetManifest
from wsss.data.prepare.coco import decode_segmentation, prepare_coco, rle_counts_from_string
from wsss.data.prepare.voc_sbd import prepare_voc_sbd, read_sbd_mask
from wsss.data.voc_dataset import VOCDataset
from wsss.models.clip_scorer import load_clip
from wsss.models.released_cams import read_released_cam
from wsss.rehearsal.coco import rle_counts, rle_string, write_coco
from wsss.rehearsal.voc_sbd import write_voc_sbd
from wsss.rehearsal.weights import write_openai_clip, write_released_cam, write_torchvision_resnet

VOC = DatasetManifest.load(REPO / "data_manifest" / "voc12.yaml")
COCO = DatasetManifest.load(REPO / "data_manifest" / "coco14.yaml")


def test_voc_sbd_miniature_prepares_like_the_real_devkits(tmp_path):
    counts = write_voc_sbd(tmp_path / "in", list(VOC.class_names))
    voc, sbd = tmp_path / "in" / "VOCdevkit" / "VOC2012", tmp_path / "in" / "benchmark_RELEASE" / "dataset"
    summary = prepare_voc_sbd(voc, sbd, tmp_path / "voc12_aug", counts)
    assert summary["splits"] == counts and summary["masks"]["from_sbd"] > 0 and summary["masks"]["from_voc"] > 0
    dataset = VOCDataset(tmp_path / "voc12_aug", VOC, "train_aug")
    assert dataset.label_matrix().any(axis=0).all(), "every VOC class appears in train_aug"
    sizes = {Image.open(voc / "JPEGImages" / f"{i}.jpg").size for i in dataset.ids}
    assert max(max(s) for s in sizes) == 500 and any(w < h for w, h in sizes) and len(sizes) >= 5
    flags = [
        (node.findtext("truncated"), node.findtext("difficult"))
        for path in (voc / "Annotations").glob("*.xml")
        for node in ET.parse(path).getroot().iter("object")
    ]
    assert ("1", "0") in {(t, "0") for t, _ in flags} and "1" in {d for _, d in flags}
    val = VOCDataset(tmp_path / "voc12_aug", VOC, "val")
    assert 255 in val.read_mask(val.ids[0]), "VOC's masks carry void boundaries"
    sbd_only = sorted(p.stem for p in (sbd / "cls").glob("*.mat"))
    assert all(255 not in np.unique(read_sbd_mask(sbd / "cls" / f"{i}.mat")) for i in sbd_only)


def segmentation_kind(annotation: dict) -> str:
    segmentation = annotation["segmentation"]
    if isinstance(segmentation, list):
        return "polygon"
    if annotation["iscrowd"] and isinstance(segmentation["counts"], list):
        return "crowd with uncompressed RLE"
    return "compressed RLE" if isinstance(segmentation["counts"], str) else "other"


def test_coco_miniature_prepares_with_polygons_rle_and_crowds(tmp_path):
    counts = write_coco(tmp_path / "coco", list(COCO.class_names))
    data = json.loads((tmp_path / "coco" / "annotations" / "instances_train2014.json").read_text())
    kinds = {segmentation_kind(a) for a in data["annotations"]}
    assert kinds == {"polygon", "compressed RLE", "crowd with uncompressed RLE"}
    assert [c["id"] for c in data["categories"]][-1] == 90 and len(data["categories"]) == 80
    summary = prepare_coco(tmp_path / "coco", tmp_path / "coco14_voc", list(COCO.class_names))
    assert summary["splits"] == counts and summary["without_labels"] == {"train": 1, "val": 1}
    sizes = {(image["width"], image["height"]) for image in data["images"]}
    assert (640, 480) in sizes and (480, 640) in sizes


def test_rle_string_round_trips_through_the_prepare_decoder():
    rng = np.random.default_rng(0)
    for _ in range(20):
        mask = rng.random((13, 17)) < rng.uniform(0.1, 0.9)
        counts = rle_counts(mask)
        assert rle_counts_from_string(rle_string(counts)) == counts
        decoded = decode_segmentation({"counts": rle_string(counts), "size": [13, 17]}, 13, 17)
        assert np.array_equal(decoded, mask)


@pytest.mark.parametrize("depth", ["resnet50", "resnet101"])
def test_resnet_files_are_torchvision_v1_state_dicts(tmp_path, depth):
    import torchvision

    write_torchvision_resnet(tmp_path / "r.pth", depth)
    state = read_state_dict(tmp_path / "r.pth")
    assert "fc.weight" in state and not any(k.endswith("num_batches_tracked") for k in state)
    load_checked(getattr(torchvision.models, depth)(weights=None), state, tmp_path / "r.pth", (), depth)


def test_clip_file_is_an_openai_torchscript_archive_of_vit_b32(tmp_path):
    path = tmp_path / "ViT-B-32.pt"
    write_openai_clip(path, "ViT-B/32")
    assert zipfile.is_zipfile(path)
    archive = torch.jit.load(str(path), map_location="cpu")
    assert archive.state_dict()["visual.conv1.weight"].dtype == torch.float16
    model = load_clip(str(path))
    assert model.visual.conv1.weight.shape == (768, 3, 32, 32) and len(model.visual.transformer.resblocks) == 12
    assert model.visual.input_resolution == 224 and model.context_length == 77


def test_released_cam_files_have_the_reference_key_count_and_convert(tmp_path):
    """956 keys: IRN's net/resnet50_cam.Net and CLIMS's net/resnet50_clims.CLIMS state dicts (the same
    names, read off instances of the reference code at IRN a2ece00 / CLIMS f9546d3; bench/compare_reference.py
    compares them with a checkout)."""
    write_released_cam(tmp_path / "res50_cam.pth", 80)
    assert len(torch.load(tmp_path / "res50_cam.pth")) == 956
    model, provenance = read_released_cam(tmp_path / "res50_cam.pth", 80)
    assert model.classifier.weight.shape == (80, 2048, 1, 1) and provenance["bytes"] > 90e6


def test_camera_ready_clims_files_have_the_reference_key_count_and_convert(tmp_path):
    """337 keys: CLIMS's camera-ready models/clip_resnet.CLIMS (read off an instance of the reference code
    at CLIMS f9546d3; bench/compare_reference.py compares them with a checkout)."""
    from wsss.rehearsal.weights import CameraReadyClimsLayout

    torch.save(CameraReadyClimsLayout(20).state_dict(), tmp_path / "clims_voc12.pth")
    assert len(torch.load(tmp_path / "clims_voc12.pth")) == 337
    model, _ = read_released_cam(tmp_path / "clims_voc12.pth", 20)
    assert model.cam_head[1].weight.shape == (21, 2048, 1, 1)
