"""COCO 2014 preparation on a miniature copy of its layout: polygons, RLE, crowd regions, splits."""

import json

import numpy as np
import pytest
import yaml
from conftest import REPO, load_stage
from PIL import Image

from wsss.data.images import read_label_map
from wsss.data.manifest import DatasetManifest
from wsss.data.prepare.coco import decode_segmentation, prepare_coco, rle_counts_from_string
from wsss.data.voc_dataset import VOCDataset
from wsss.errors import ConfigError, DatasetError
from wsss.rehearsal.coco import rle_counts, rle_string

CLASSES = ["person", "traffic light", "dog"]  # category ids 1, 10, 18 below: labels 1, 2, 3


def block(height, width, top, left, bottom, right):
    mask = np.zeros((height, width), dtype=bool)
    mask[top:bottom, left:right] = True
    return mask


@pytest.fixture
def coco(tmp_path):
    root = tmp_path / "coco"
    categories = [
        {"id": 18, "name": "dog"},
        {"id": 1, "name": "person"},
        {"id": 10, "name": "traffic light"},
    ]  # unsorted on purpose
    h, w = 20, 30
    for name in ("train2014", "val2014"):
        (root / name).mkdir(parents=True)
        images, annotations = [], []
        for index in range(4):
            file_name = f"COCO_{name}_{index:012d}.jpg"
            Image.fromarray(np.full((h, w, 3), 60 * index, dtype=np.uint8)).save(root / name / file_name)
            images.append({"id": 100 + index, "file_name": file_name, "height": h, "width": w})
        annotations += [
            # image 100: a polygon person, then an overlapping dog as compressed RLE drawn over it, a crowd of people
            {
                "id": 1,
                "image_id": 100,
                "category_id": 1,
                "iscrowd": 0,
                "segmentation": [[2, 2, 11, 2, 11, 9, 2, 9]],
                "bbox": [2, 2, 9, 7],
            },
            {
                "id": 2,
                "image_id": 100,
                "category_id": 18,
                "iscrowd": 0,
                "segmentation": {"counts": rle_string(rle_counts(block(h, w, 5, 8, 12, 16))), "size": [h, w]},
                "bbox": [8, 5, 8, 7],
            },
            {
                "id": 3,
                "image_id": 100,
                "category_id": 1,
                "iscrowd": 1,
                "segmentation": {"counts": rle_counts(block(h, w, 14, 0, 20, 30)), "size": [h, w]},
                "bbox": [0, 14, 30, 6],
            },
            # image 101: a small dog, then a traffic light as uncompressed RLE that covers it completely
            {
                "id": 6,
                "image_id": 101,
                "category_id": 18,
                "iscrowd": 0,
                "segmentation": [[21, 1, 23, 1, 23, 3, 21, 3]],
                "bbox": [21, 1, 2, 2],
            },
            {
                "id": 4,
                "image_id": 101,
                "category_id": 10,
                "iscrowd": 0,
                "segmentation": {"counts": rle_counts(block(h, w, 0, 20, 10, 25)), "size": [h, w]},
                "bbox": [20, 0, 5, 10],
            },
            # image 102: its only person is a crowd; image 103: no annotation at all (kept, no class)
            {
                "id": 5,
                "image_id": 102,
                "category_id": 1,
                "iscrowd": 1,
                "segmentation": {"counts": rle_counts(block(h, w, 0, 0, 5, 5)), "size": [h, w]},
                "bbox": [0, 0, 5, 5],
            },
        ]
        (root / "annotations").mkdir(exist_ok=True)
        (root / "annotations" / f"instances_{name}.json").write_text(
            json.dumps({"images": images, "annotations": annotations, "categories": categories})
        )
    return root


def test_rle_strings_decode_to_their_counts():
    counts = [0, 5, 300, 2, 70000, 1, 3]
    assert rle_counts_from_string(rle_string(counts)) == counts
    mask = block(7, 9, 1, 2, 6, 5)
    decoded = decode_segmentation({"counts": rle_string(rle_counts(mask)), "size": [7, 9]}, 7, 9)
    assert np.array_equal(decoded, mask)


def mini_manifest(tmp_path, labels_from, allow_unlabelled_images=True):
    path = tmp_path / f"manifest_{labels_from}.yaml"
    manifest = {"name": "mini coco", "classes": CLASSES, "labels_from": labels_from, "background_prompts": ["street"]}
    path.write_text(yaml.safe_dump({**manifest, "allow_unlabelled_images": allow_unlabelled_images}))
    return DatasetManifest.load(path)


def test_label_maps_follow_annotation_order_with_crowds_ignored(coco, tmp_path):
    summary = prepare_coco(coco, tmp_path / "prepared", CLASSES)
    assert summary == {"splits": {"train": 4, "val": 4}, "without_labels": {"train": 1, "val": 1}}
    root = tmp_path / "prepared"
    assert (root / "ImageSets" / "Segmentation" / "train.txt").read_text().split() == [
        f"COCO_train2014_{index:012d}" for index in range(4)
    ]
    expected = np.zeros((20, 30), dtype=np.uint8)
    expected[2:10, 2:12] = 1  # the polygon person, edges included
    expected[5:12, 8:16] = 3  # the dog, drawn later, overwrites it
    expected[14:20, :] = 255  # the crowd
    assert np.array_equal(read_label_map(root / "SegmentationClass" / "COCO_train2014_000000000000.png"), expected)
    light = read_label_map(root / "SegmentationClass" / "COCO_val2014_000000000001.png")
    assert set(np.unique(light)) == {0, 2} and (light[0:10, 20:25] == 2).all()  # the covered dog is gone
    crowd_only = np.zeros((20, 30), dtype=np.uint8)
    crowd_only[0:5, 0:5] = 255
    assert np.array_equal(read_label_map(root / "SegmentationClass" / "COCO_val2014_000000000002.png"), crowd_only)
    # the image without annotations, kept as the reference keeps it: all background
    assert np.array_equal(
        read_label_map(root / "SegmentationClass" / "COCO_val2014_000000000003.png"), np.zeros((20, 30), np.uint8)
    )
    assert (root / "JPEGImages" / "COCO_val2014_000000000001.jpg").resolve() == (
        coco / "val2014" / "COCO_val2014_000000000001.jpg"
    ).resolve()


def test_image_labels_come_from_every_annotation_not_the_label_maps(coco, tmp_path):
    """As the reference's label files: the crowd-only person and the fully covered dog are labels."""
    prepare_coco(coco, tmp_path / "prepared", CLASSES)
    root = tmp_path / "prepared"
    for split in ("train", "val"):
        dataset = VOCDataset(root, mini_manifest(tmp_path, "annotations"), split)
        assert dataset.label_matrix().astype(int).tolist() == [[1, 0, 1], [0, 1, 1], [1, 0, 0], [0, 0, 0]]
    # the label maps alone would lose the covered dog of image 1 and leave image 2 with no class
    from_maps = VOCDataset(root, mini_manifest(tmp_path, "masks"), "train")
    assert from_maps.class_labels("COCO_train2014_000000000001").astype(int).tolist() == [0, 1, 0]
    assert not from_maps.class_labels("COCO_train2014_000000000002").any()


def test_an_image_without_annotations_has_no_label_and_needs_a_manifest_that_allows_it(coco, tmp_path):
    prepare_coco(coco, tmp_path / "prepared", CLASSES)
    root = tmp_path / "prepared"
    dataset = VOCDataset(root, mini_manifest(tmp_path, "annotations"), "train")
    assert not dataset.class_labels("COCO_train2014_000000000003").any()
    strict = VOCDataset(root, mini_manifest(tmp_path, "annotations", allow_unlabelled_images=False), "train")
    with pytest.raises(DatasetError, match=r"1 image\(s\) of split 'train' have no class label in Annotations/, "):
        strict.label_matrix()


def test_the_stage_refuses_a_manifest_that_does_not_allow_unlabelled_images(coco, tmp_path):
    prepare_coco_stage = load_stage("prepare_coco").prepare_coco_stage
    strict = tmp_path / "manifest_annotations.yaml"
    mini_manifest(tmp_path, "annotations", allow_unlabelled_images=False)
    with pytest.raises(ConfigError, match=r"manifest_annotations.yaml: .* allow_unlabelled_images: true"):
        prepare_coco_stage(str(coco), str(strict), str(tmp_path / "out"), str(tmp_path / "out.json"))
    assert not (tmp_path / "out").exists()
    mini_manifest(tmp_path, "annotations")
    prepare_coco_stage(str(coco), str(strict), str(tmp_path / "out"), str(tmp_path / "out.json"))
    assert json.loads((tmp_path / "out.json").read_text())["without_labels"] == {"train": 1, "val": 1}


def test_shipped_coco_manifest_reads_labels_from_the_annotations_and_allows_unlabelled_images():
    manifest = DatasetManifest.load(REPO / "data_manifest" / "coco14.yaml")
    assert manifest.labels_from == "annotations" and manifest.allow_unlabelled_images
    assert not DatasetManifest.load(REPO / "data_manifest" / "voc12.yaml").allow_unlabelled_images


def test_shipped_coco_manifest_orders_the_80_categories_by_id():
    manifest = DatasetManifest.load(REPO / "data_manifest" / "coco14.yaml")
    assert (
        manifest.num_classes == 80 and manifest.class_names[0] == "person" and manifest.class_names[-1] == "toothbrush"
    )
    assert (
        manifest.class_prompts()[0] == "a photo of player."
        and manifest.background_texts()[0] == "a photo of street sign."
    )


def test_problems_name_the_file(coco, tmp_path):
    with pytest.raises(DatasetError, match="categories .* do not match"):
        prepare_coco(coco, tmp_path / "out", ["cat", "dog", "bird"])
    (coco / "val2014" / "COCO_val2014_000000000001.jpg").unlink()
    with pytest.raises(
        DatasetError, match="COCO_val2014_000000000001.jpg: image listed in instances_val2014.json is missing"
    ):
        prepare_coco(coco, tmp_path / "out", CLASSES)
    (coco / "annotations" / "instances_train2014.json").write_text("{not json")
    with pytest.raises(DatasetError, match="instances_train2014.json: not a readable JSON file"):
        prepare_coco(coco, tmp_path / "out", CLASSES)
    assert not (tmp_path / "out").exists()


def test_coco14_config_dry_run_prepares_the_root_first(coco, tmp_path):
    from workflow_helpers import place_released_files, planned_jobs, shipped, snakemake

    config = place_released_files(tmp_path, shipped("coco14"))
    config["coco"] = {"coco_root": str(coco), "root": str(tmp_path / "coco14_voc")}
    config["dataset"]["root"] = str(tmp_path / "coco14_voc")
    jobs = planned_jobs(snakemake(tmp_path, config, "-n"))
    assert (
        jobs["prepare_coco"] == 1
        and jobs["import_released_cam"] == 1
        and "train_cam" not in jobs
        and jobs["train_clims"] == 1
        and jobs["train_seg"] == 1
        and "make_demo_world" not in jobs
    )
