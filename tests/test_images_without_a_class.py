"""An image with no class (COCO keeps its images without annotations, as the reference does) goes
through every stage's library code as all background: training targets, CAMs, seeds, IR labels,
pseudo-labels and their evaluation. VOC's manifest still refuses one."""

import math

import numpy as np
import pytest
import torch
from conftest import load_stage, tiny_manifest, write_tiny_voc

from wsss.clims.cam_inference import cam_jobs, write_cams
from wsss.clims.losses import multilabel_soft_margin_loss
from wsss.data.cam_io import load_cam
from wsss.data.images import read_label_map
from wsss.data.label_folder import write_label_png
from wsss.data.training_data import AugmentedCrops
from wsss.data.voc_dataset import VOCDataset
from wsss.data.voc_writer import write_annotation, write_split
from wsss.errors import DatasetError
from wsss.evaluation.label_eval import evaluate_label_folder
from wsss.evaluation.seed_eval import evaluate_seeds, seed_labels
from wsss.io import save_label_png
from wsss.models.cam_net import CAMNet
from wsss.progress import Progress
from wsss.refine.cam_to_labels import (
    cam_label_jobs,
    crf_pseudo_labels,
    ir_labels,
    write_crf_pseudo_labels,
    write_ir_labels,
)
from wsss.refine.crf import CRFParams
from wsss.refine.random_walk import propagated_labels, write_walked_labels

EMPTY = "2007_000003"  # the image without a class
# Its ground truth: background, with 15 void pixels (row 4, columns 5-19): 20 * 30 - 15 scored pixels.
SCORED = 20 * 30 - 15


@pytest.fixture
def dataset_with_an_empty_image(tmp_path):
    """tiny_voc's three images plus one whose annotation has no object and whose mask is background;
    split "train" holds all four, split "empty" only the image without a class."""
    root = tmp_path / "VOC"
    ids = write_tiny_voc(root, n=4)
    write_annotation(root / "Annotations" / f"{EMPTY}.xml", f"{EMPTY}.jpg", (20, 30), [])
    mask = np.zeros((20, 30), dtype=np.uint8)
    mask[4, 5:20] = 255
    save_label_png(root / "SegmentationClass" / f"{EMPTY}.png", mask)
    write_split(root / "ImageSets" / "Segmentation" / "empty.txt", [EMPTY])
    return root, ids, tiny_manifest(allow_unlabelled_images=True)


def test_voc_style_manifest_refuses_an_image_without_a_class(dataset_with_an_empty_image):
    root, _, _ = dataset_with_an_empty_image
    with pytest.raises(DatasetError, match=r"1 image\(s\) of split 'train' have no class label .* e\.g\. 2007_000003"):
        VOCDataset(root, tiny_manifest(), "train").label_matrix()


def test_check_dataset_counts_images_without_labels(dataset_with_an_empty_image):
    root, _, manifest = dataset_with_an_empty_image
    summary = load_stage("check_dataset")._check_split(VOCDataset(root, manifest, "train"), 1)
    assert summary["images"] == 4 and summary["images_without_labels"] == 1
    assert summary["mean_classes_per_image"] == 0.75


def test_training_target_is_all_zero_and_its_loss_is_the_plain_logistic_loss(dataset_with_an_empty_image):
    root, ids, manifest = dataset_with_an_empty_image
    data = AugmentedCrops(VOCDataset(root, manifest, "train"), 16, (20, 40))
    assert data[ids.index(EMPTY)]["labels"].tolist() == [0.0, 0.0]
    # all-zero target: mean over classes of log(1 + e^x); here x = 0 and ln 3: (ln 2 + ln 4) / 2
    loss = multilabel_soft_margin_loss(torch.tensor([[0.0, math.log(3.0)]]), torch.zeros(1, 2))
    assert loss.item() == pytest.approx((math.log(2) + math.log(4)) / 2)


def test_make_cam_writes_no_maps_and_every_later_step_reads_all_background(dataset_with_an_empty_image, tmp_path):
    root, _, manifest = dataset_with_an_empty_image
    torch.manual_seed(0)
    model = CAMNet(2, "resnet18", 16).eval()
    cams = tmp_path / "cams"
    cams.mkdir()
    jobs = cam_jobs(str(root), manifest, ["train"], 0, 1)
    write_cams(
        model,
        jobs,
        cams,
        scales=(1.0,),
        batch_size=4,
        device=torch.device("cpu"),
        network_autocast=None,
        progress=Progress(len(jobs), "test"),
    )
    record = load_cam(cams, EMPTY, expected_keys=np.zeros(0, dtype=np.int64))
    assert record.keys.tolist() == [] and record.cam.shape == (0, 20, 30) and record.cam_stride4.shape == (0, 5, 8)

    # eval_cam: at every threshold the image is background, so all its scored pixels land in (0, 0)
    empty_split = VOCDataset(root, manifest, "empty")
    confusions, _ = evaluate_seeds(empty_split, cams, [0.05, 0.15, 0.95])
    for confusion in confusions.values():
        assert confusion[0, 0] == SCORED and confusion.sum() == SCORED

    params = CRFParams()
    label_jobs = {job.image_id: job for job in cam_label_jobs(str(root), manifest, ["train"], str(cams), "")}
    assert label_jobs[EMPTY].keys == ()
    for name, write in {
        "ir_labels": lambda job: write_ir_labels(job, 0.35, 0.10, params),
        "crf_pseudo_labels": lambda job: write_crf_pseudo_labels(job, params, bg_threshold=0.25),
        "walked_labels": lambda job: write_walked_labels((job, torch.zeros(5, 8)), 5, 10, 8, 0.25),
    }.items():
        job = cam_label_jobs(str(root), manifest, ["empty"], str(cams), str(tmp_path / name))[0]
        histogram = write(job)
        assert histogram[0] == 600 and histogram.sum() == 600
        assert (read_label_map(tmp_path / name / f"{EMPTY}.png") == 0).all()
        # eval_labels scores the all-background labels as background everywhere
        evaluation = evaluate_label_folder(empty_split, tmp_path / name)
        assert evaluation["confusion"][0, 0] == SCORED and evaluation["confusion"].sum() == SCORED
        assert evaluation["coverage"] == 1.0


def test_each_refinement_function_labels_an_image_without_maps_background():
    image = np.random.default_rng(0).integers(0, 256, (12, 16, 3), dtype=np.uint8)
    no_maps, no_keys = np.zeros((0, 12, 16), np.float32), np.zeros(0, np.int64)
    background = np.zeros((12, 16), np.uint8)
    assert np.array_equal(seed_labels(no_maps, no_keys, 0.15), background)
    assert np.array_equal(ir_labels(image, no_maps, no_keys, 0.35, 0.10, CRFParams()), background)
    assert np.array_equal(crf_pseudo_labels(image, no_maps, no_keys, CRFParams(), bg_threshold=0.25), background)
    walked = propagated_labels(
        np.zeros((0, 3, 4), np.float32),
        no_keys,
        torch.zeros(3, 4),
        (12, 16),
        radius=5,
        beta=10,
        exp_times=8,
        bg_threshold=0.25,
    )
    assert np.array_equal(walked, background)


def test_eval_labels_counts_an_empty_image_with_its_labels_from_a_folder(dataset_with_an_empty_image, tmp_path):
    root, _, manifest = dataset_with_an_empty_image
    predicted = np.zeros((20, 30), np.uint8)
    predicted[0:2, :] = 1  # 60 pixels wrongly called class 1
    write_label_png(tmp_path / "labels", EMPTY, predicted)
    confusion = evaluate_label_folder(VOCDataset(root, manifest, "empty"), tmp_path / "labels")["confusion"]
    assert confusion[0, 1] == 60 and confusion[0, 0] == SCORED - 60
