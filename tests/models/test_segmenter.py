"""The mmsegmentation segmenter: DeepLabV2 head, pseudo-label dataset, one training step, evaluation, predict."""

import json
import logging
import shutil

import numpy as np
import pytest
import torch
import yaml
from conftest import load_stage, train_tiny_segmenter, write_code_payload, write_tiny_voc, write_turned_jpeg
from PIL import Image

from wsss.config import validate_config
from wsss.data.label_folder import read_label_folder_png, write_label_png
from wsss.errors import ConfigError, DatasetError
from wsss.models.segmenter import (
    SegmenterSettings,
    TrainingPlan,
    build_model,
    register_modules,
    training_config,
    trust_own_checkpoints,
)


def test_deeplabv2_head_is_registered_and_sums_its_classifiers():
    register_modules()
    from mmseg.registry import MODELS

    assert "DeepLabV2Head" in MODELS.module_dict
    model = build_model(SegmenterSettings("deeplabv2", "resnet18", 3, ("cat", "dog")))
    assert len(model.decode_head.aspp) == 4 and [c.dilation[0] for c in model.decode_head.aspp] == [6, 12, 18, 24]
    assert not hasattr(model.decode_head, "conv_seg")
    features = model.extract_feat(torch.rand(2, 3, 64, 48))
    logits = model.decode_head(features)
    assert logits.shape == (2, 3, 8, 6)  # output stride 8
    expected = sum(conv(features[3]) for conv in model.decode_head.aspp)
    assert torch.allclose(logits, expected)
    assert model.decode_head.ignore_index == 255


@pytest.fixture
def pseudo_labelled(tmp_path):
    """Tiny VOC root, manifest file and a pseudo-label folder whose top half is unsure (255)."""
    root = tmp_path / "VOC"
    ids = write_tiny_voc(root, n=4, size=(32, 40))
    manifest = tmp_path / "manifest.yaml"
    manifest.write_text(
        yaml.safe_dump({"name": "tiny", "classes": ["cat", "diningtable"], "background_prompts": ["floor"]})
    )
    labels = tmp_path / "pseudo_labels"
    for image_id in ids:
        truth = np.asarray(Image.open(root / "SegmentationClass" / f"{image_id}.png")).copy()
        truth[:16] = 255
        write_label_png(labels, image_id, truth)
    return root, manifest, labels, ids


def training_dataset(root, labels, ids, tmp_path):
    """mmseg's training dataset of a tiny DeepLabV2 run on ``ids``, as train_seg configures it."""
    register_modules()
    from mmseg.registry import DATASETS

    settings = SegmenterSettings("deeplabv2", "resnet18", 3, ("cat", "diningtable"))
    plan = TrainingPlan(iterations=1, batch_size=2, accumulation=1, crop_size=32, base_size=32, scale_range=(1.0, 1.0))
    id_file = tmp_path / "ids.txt"
    id_file.write_text("\n".join(ids) + "\n")
    config = training_config(
        settings,
        plan,
        image_dir=str(root / "JPEGImages"),
        image_suffix=".jpg",
        label_dir=str(labels),
        id_file=str(id_file),
        work_dir=str(tmp_path / "work"),
        device=torch.device("cpu"),
        workers=0,
    )
    return DATASETS.build(config["train_dataloader"]["dataset"])


def test_training_dataset_reads_pseudo_labels_with_255_kept_for_the_loss(pseudo_labelled, tmp_path):
    root, manifest, labels, ids = pseudo_labelled
    dataset = training_dataset(root, labels, ids, tmp_path)
    assert len(dataset) == 4
    values = np.unique(dataset[0]["data_samples"].gt_sem_seg.data.numpy())
    assert 255 in values and set(values) <= {0, 1, 2, 255}


def test_train_seg_reads_a_turned_jpeg_as_its_pseudo_label_was_made(pseudo_labelled, tmp_path):
    """A portrait photo stored landscape with an EXIF orientation: mmseg's pipeline loads it turned
    through the project's reader, the same shape as its pseudo-label, and train_seg trains on it;
    a pseudo-label of the stored shape is refused before training, naming the file."""
    root, manifest, labels, ids = pseudo_labelled  # 32x40 (H x W) images and pseudo-labels
    rng = np.random.default_rng(2)
    shown = write_turned_jpeg(root / "JPEGImages" / f"{ids[0]}.jpg", rng.integers(0, 255, (32, 40, 3), np.uint8), 6)
    assert Image.open(root / "JPEGImages" / f"{ids[0]}.jpg").size == (32, 40)  # stored 40 high, 32 wide

    dataset = training_dataset(root, labels, ids, tmp_path)
    paths = [dataset.get_data_info(i)["img_path"] for i in range(len(dataset))]
    index = paths.index(str(root / "JPEGImages" / f"{ids[0]}.jpg"))
    load_image, load_labels = dataset.pipeline.transforms[:2]
    loaded = load_labels(load_image(dataset.get_data_info(index)))
    assert loaded["img"].shape == (32, 40, 3) and loaded["gt_seg_map"].shape == (32, 40)
    np.testing.assert_array_equal(loaded["img"], shown[:, :, ::-1].astype(np.float32))  # BGR, as mmcv loads
    assert dataset[index]["data_samples"].ori_shape == (32, 40)

    train_tiny_segmenter(root, manifest, labels, tmp_path / "segmenter.pt")
    assert json.loads((tmp_path / "segmenter.pt.json").read_text())["iterations"] == 1

    write_label_png(labels, ids[0], np.zeros((40, 32), np.uint8))  # made from the image as stored
    with pytest.raises(DatasetError, match=rf"{ids[0]}\.png: pseudo-label is 32x40 but its image is 40x32"):
        train_tiny_segmenter(root, manifest, labels, tmp_path / "again.pt")


def eval_train_split(root, manifest, checkpoint, folder, **eval_settings) -> None:
    """eval_seg on the train split at scales 1.0 and 0.5 with the CRF, into ``folder``'s predictions and counts."""
    load_stage("eval_seg").eval_seg(
        str(root),
        str(manifest),
        str(checkpoint),
        str(folder / "shard_predictions"),
        str(folder / "counts.npz"),
        split="train",
        scales=[1.0, 0.5],
        crf=True,
        **eval_settings,
    )


@pytest.mark.parametrize(
    "model, fusion, headline, modes",
    [
        (
            "deeplabv2",
            "max",
            "crf",
            ["single scale", "scales [1.0, 0.5] max + flip", "scales [1.0, 0.5] max + flip + CRF"],
        ),
        (
            "deeplabv3plus",
            "mean",
            "multi_scale",
            ["single scale", "scales [1.0, 0.5] + flip", "scales [1.0, 0.5] + flip + CRF"],
        ),
    ],
)
def test_one_training_iteration_then_evaluation_and_prediction(
    pseudo_labelled, tmp_path, model, fusion, headline, modes
):
    root, manifest, labels, ids = pseudo_labelled
    checkpoint = tmp_path / "segmenter.pt"
    train_tiny_segmenter(root, manifest, labels, checkpoint, model=model)
    history = json.loads((tmp_path / "segmenter.pt.json").read_text())
    assert history["iterations"] == 1 and np.isfinite(history["final_loss"]) and history["backbone_init"] == "random"
    assert 0 < history["median_batch_seconds"] <= history["seconds"]
    assert not (tmp_path / "segmenter.pt.work").exists()  # the resume state goes once training is done

    gather_eval_seg = load_stage("gather_eval_seg").gather_eval_seg

    eval_train_split(root, manifest, checkpoint, tmp_path, fusion=fusion, flip=True, headline=headline)
    gather_eval_seg(
        [str(tmp_path / "shard_predictions")],
        [str(tmp_path / "counts.npz")],
        str(tmp_path / "predictions"),
        str(tmp_path / "eval.json"),
        str(tmp_path / "eval.txt"),
    )
    report = json.loads((tmp_path / "eval.json").read_text())
    assert set(report["modes"]) == set(modes)  # the JSON's keys are sorted
    assert report["headline"] == modes[("single_scale", "multi_scale", "crf").index(headline)]
    assert f"{report['headline']} [headline]" in (tmp_path / "eval.txt").read_text()
    assert f"({report['headline']})" in (tmp_path / "predictions" / "README.txt").read_text()
    assert all(0 <= mode["summary"]["aAcc"] <= 100 for mode in report["modes"].values())
    assert "mIoU" in (tmp_path / "eval.txt").read_text()
    assert read_label_folder_png(tmp_path / "predictions", ids[0], (32, 40)).max() <= 2

    predict = load_stage("predict").predict

    images = tmp_path / "photos"
    images.mkdir()
    shutil.copy(root / "JPEGImages" / f"{ids[0]}.jpg", images / "holiday.jpg")
    predict(str(checkpoint), str(images), str(tmp_path / "masks"))
    mask = Image.open(tmp_path / "masks" / "holiday.png")
    assert mask.mode == "P" and mask.size == (40, 32) and np.asarray(mask).max() <= 2

    # The output never takes over a folder that holds other files: the photos themselves, a folder
    # inside or around them, or any non-empty folder; nothing in them is touched.
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "todo.txt").write_text("keep me")
    for output, message in [
        (images, "must be apart from the images' folder"),
        (images / "masks", "must be apart from the images' folder"),
        (tmp_path, "must be apart from the images' folder"),
        (tmp_path / "notes", "exists and is not an empty folder"),
    ]:
        with pytest.raises(DatasetError, match=message):
            predict(str(checkpoint), str(images), str(output))
    assert sorted(p.name for p in images.iterdir()) == ["holiday.jpg"]
    assert (tmp_path / "notes" / "todo.txt").read_text() == "keep me"


def test_training_refuses_a_missing_pseudo_label_folder(pseudo_labelled, tmp_path):
    root, manifest, labels, ids = pseudo_labelled
    with pytest.raises(DatasetError, match="nowhere: pseudo-label folder is missing"):
        train_tiny_segmenter(root, manifest, tmp_path / "nowhere", tmp_path / "segmenter.pt")
    (labels / f"{ids[2]}.png").unlink()
    with pytest.raises(DatasetError, match=rf"no pseudo-label for 1 of 4 train images, e.g. \['{ids[2]}'\]"):
        train_tiny_segmenter(root, manifest, labels, tmp_path / "segmenter.pt")


def test_crop_larger_than_the_images_ever_get_is_refused():
    with pytest.raises(
        ValueError,
        match=r"crop_size 600 is larger than the training images ever get "
        r"\(base_size 128 x largest scale 2.0 = 256 px\)",
    ):
        TrainingPlan(crop_size=600, augmentation="mmseg", base_size=128, scale_range=(0.5, 2.0))


def test_a_crf_headline_needs_the_crf_mode(tmp_path):
    eval_seg = load_stage("eval_seg").eval_seg

    with pytest.raises(
        ValueError, match=r"eval_seg.headline must be one of .* \(crf only with eval_seg.crf\), got 'crf'"
    ):
        eval_seg("root", "manifest", "checkpoint", str(tmp_path / "p"), "c.npz", crf=False, headline="crf")


def test_config_rejects_an_unknown_segmenter_model():
    with pytest.raises(ConfigError, match=r"segmenter.model: 'unet' is not one of"):
        validate_config({"segmenter": {"model": "unet"}}, "test config")


def test_only_recorded_checkpoints_inside_the_run_folder_load_with_pickled_objects(tmp_path):
    from mmengine.logging.history_buffer import HistoryBuffer
    from mmengine.runner.checkpoint import CheckpointLoader

    from wsss.models.seg_resume import write_record

    own = tmp_path / "work" / "iter_1.pth"
    own.parent.mkdir()
    torch.save({"message_hub": HistoryBuffer([1.0, 2.0], [1, 1]), "weights": torch.ones(2)}, own)
    unrecorded = tmp_path / "work" / "iter_2.pth"
    elsewhere = tmp_path / "downloaded.pth"
    shutil.copy(own, unrecorded)
    shutil.copy(own, elsewhere)
    write_record(own, 1)
    trust_own_checkpoints(tmp_path / "work")
    assert CheckpointLoader.load_checkpoint(str(own))["weights"].sum() == 2
    for path in (unrecorded, elsewhere):
        with pytest.raises(Exception, match="Weights only load failed"):
            CheckpointLoader.load_checkpoint(str(path))


def test_a_recorded_checkpoint_loads_only_the_objects_mmengine_pickles(tmp_path):
    """A record vouches for the bytes, not for what they do: a recorded payload, or a recorded file
    reaching past HistoryBuffer's statistics through getattr, is refused and nothing in it runs."""
    from mmengine.logging.history_buffer import HistoryBuffer
    from mmengine.runner.checkpoint import CheckpointLoader

    from wsss.models.seg_resume import unloadable, write_record

    work, marker = tmp_path / "work", tmp_path / "payload-ran"
    write_code_payload(work / "iter_1.pth", marker)
    torch.save({"meta": {}, "hook": HistoryBuffer.update}, work / "iter_2.pth")
    for iteration, path in enumerate(sorted(work.glob("iter_*.pth")), 1):
        write_record(path, iteration)
    trust_own_checkpoints(work)
    for path in sorted(work.glob("iter_*.pth")):
        with pytest.raises(Exception, match="Weights only load failed"):
            CheckpointLoader.load_checkpoint(str(path))
    assert "never holds (io.open), refused unrun" in unloadable(work / "iter_1.pth")
    assert "getattr(HistoryBuffer, 'update') refused" in unloadable(work / "iter_2.pth")
    assert not marker.exists()


def test_code_payload_in_the_work_folder_is_set_aside_never_unpickled(pseudo_labelled, tmp_path, caplog):
    """A hostile file named by last_checkpoint: training starts afresh, the payload never runs."""
    root, manifest, labels, ids = pseudo_labelled
    work, marker = tmp_path / "segmenter.pt.work", tmp_path / "payload-ran"
    write_code_payload(work / "iter_1.pth", marker)
    (work / "last_checkpoint").write_text(str(work / "iter_1.pth"))
    train_tiny_segmenter(root, manifest, labels, tmp_path / "segmenter.pt")
    assert not marker.exists()
    assert "iter_1.pth: no matching integrity record" in caplog.text
    assert (tmp_path / "segmenter.pt.work.rejected" / "iter_1.pth.rejected").is_file()
    assert json.loads((tmp_path / "segmenter.pt.json").read_text())["resumed"] is False


def keep_work_folder(monkeypatch) -> None:
    """Training leaves its work folder behind, as if killed after its last checkpoint."""
    from wsss.models import seg_training

    monkeypatch.setattr(seg_training, "shutil", type("NoRemoval", (), {"rmtree": staticmethod(lambda *a, **k: None)}))


def test_code_payload_with_a_forged_record_is_set_aside_never_run(pseudo_labelled, tmp_path, monkeypatch, caplog):
    """Whoever can write a checkpoint can write its record: a payload put in place of the last
    checkpoint, its record recomputed by the pipeline's own writer, still never runs."""
    from wsss.models.seg_resume import write_record

    root, manifest, labels, ids = pseudo_labelled
    checkpoint, marker = tmp_path / "segmenter.pt", tmp_path / "payload-ran"
    work = tmp_path / "segmenter.pt.work"
    keep_work_folder(monkeypatch)
    train_tiny_segmenter(root, manifest, labels, checkpoint)
    assert (work / "iter_1.pth.sha256.json").is_file()
    write_code_payload(work / "iter_1.pth", marker)
    write_record(work / "iter_1.pth", 1)
    caplog.clear()
    train_tiny_segmenter(root, manifest, labels, checkpoint)
    assert not marker.exists()
    assert "iter_1.pth: pickles Python objects a checkpoint of this pipeline never holds" in caplog.text
    assert (tmp_path / "segmenter.pt.work.rejected" / "iter_1.pth.rejected").is_file()
    assert json.loads((tmp_path / "segmenter.pt.json").read_text())["resumed"] is False


def test_rerun_resumes_only_the_same_run_from_a_sound_checkpoint(pseudo_labelled, tmp_path, monkeypatch, caplog):
    """The work folder is kept (as if killed after its last checkpoint), then the stage is rerun."""
    root, manifest, labels, ids = pseudo_labelled
    checkpoint = tmp_path / "segmenter.pt"
    keep_work_folder(monkeypatch)

    def history(**overrides):
        train_tiny_segmenter(root, manifest, labels, checkpoint, **overrides)
        return json.loads((tmp_path / "segmenter.pt.json").read_text())

    assert history()["resumed"] is False
    changed = history(lr=2e-3)  # segmenter.lr changed: the old state is not resumed at the old rate
    assert changed["resumed"] is False and "left by a run with other settings; training starts afresh" in caplog.text
    again = history(lr=2e-3)
    assert again["resumed"] is True and again["resumed_from_iteration"] == 1
    (labels / f"{ids[0]}.png").touch()  # the pseudo-labels were rewritten
    caplog.clear()
    assert history(lr=2e-3)["resumed"] is False and "left by a run with other inputs" in caplog.text
    saved = checkpoint.with_name("segmenter.pt.work") / "iter_1.pth"
    saved.write_bytes(saved.read_bytes()[:1000])  # truncated: set aside, never a dead end
    assert history(lr=2e-3)["resumed"] is False
    assert "iter_1.pth: no matching integrity record (truncated" in caplog.text


def test_cam_backbone_converts_to_the_torchvision_layout_mmseg_reads(tmp_path):
    import torchvision

    from wsss.checkpoints import save_model
    from wsss.models.cam_net import CAMNet
    from wsss.models.seg_training import save_cam_backbone

    cam = CAMNet(2, "resnet18", 16)
    save_model(tmp_path / "cam.pt", cam, {"num_classes": 2, "backbone": "resnet18", "output_stride": 16})
    weights = torch.load(save_cam_backbone(str(tmp_path / "cam.pt"), tmp_path / "backbone.pth"), weights_only=True)
    expected = {k for k in torchvision.models.resnet18().state_dict() if not k.startswith("fc.")}
    assert set(weights) == expected
    assert torch.equal(weights["conv1.weight"], cam.backbone.stem[0].weight)
    model = build_model(SegmenterSettings("deeplabv2", "resnet18", 3, ("a", "b")))
    missing, unexpected = model.backbone.load_state_dict(weights, strict=False)
    assert not unexpected and not [k for k in missing if "num_batches_tracked" not in k]


@pytest.fixture
def untrained_segmenter(tmp_path):
    """An untrained DeepLabV2-R18's checkpoint, as train_seg saves one (predict only needs it to load)."""
    from wsss.checkpoints import save_model
    from wsss.models.segmenter import settings_to_meta

    settings = SegmenterSettings("deeplabv2", "resnet18", 3, ("cat", "dog"))
    path = tmp_path / "segmenter.pt"
    save_model(path, build_model(settings), settings_to_meta(settings))
    return path


def write_photos(folder, names):
    folder.mkdir()
    for name in names:
        Image.fromarray(np.full((16, 20, 3), 100, np.uint8)).save(folder / name)


def test_predict_refuses_images_whose_masks_would_share_a_name(untrained_segmenter, tmp_path):
    """x.jpg and x.png would both become x.png: refused before any work, naming both files."""
    predict = load_stage("predict").predict
    write_photos(tmp_path / "photos", ["x.jpg", "x.png", "y.jpg", "Z.jpg", "z.bmp"])
    with pytest.raises(DatasetError, match=r"masks would have the same name: Z\.jpg and z\.bmp; x\.jpg and x\.png"):
        predict(str(untrained_segmenter), str(tmp_path / "photos"), str(tmp_path / "masks"), scales=(1.0,))
    assert not (tmp_path / "masks").exists()


@pytest.mark.parametrize("theirs", [[], ["x.png", "README.txt"]], ids=["empty", "with masks"])
def test_predict_never_replaces_an_output_folder_made_while_it_ran(untrained_segmenter, tmp_path, monkeypatch, theirs):
    """Another run into the same new folder finishes first: this one fails naming the folder and
    leaves it as the other run made it (its temporary folder goes)."""
    stage = load_stage("predict")
    write_photos(tmp_path / "photos", ["x.jpg", "y.png"])
    output = tmp_path / "masks"
    write_readme = stage.write_folder_readme

    def and_another_run_finishes(*args, **kwargs):
        write_readme(*args, **kwargs)
        output.mkdir()
        for name in theirs:
            (output / name).write_text("the other run's")

    monkeypatch.setattr(stage, "write_folder_readme", and_another_run_finishes)
    with pytest.raises(DatasetError, match=rf"{output}: appeared while predicting"):
        stage.predict(str(untrained_segmenter), str(tmp_path / "photos"), str(output), scales=(1.0,), flip=False)
    assert sorted(p.name for p in output.iterdir()) == sorted(theirs)
    assert all(p.read_text() == "the other run's" for p in output.iterdir())
    assert sorted(p.name for p in tmp_path.iterdir()) == ["masks", "photos", "segmenter.pt"]

    monkeypatch.setattr(stage, "write_folder_readme", write_readme)
    stage.predict(str(untrained_segmenter), str(tmp_path / "photos"), str(tmp_path / "new"), scales=(1.0,))
    assert sorted(p.name for p in (tmp_path / "new").iterdir()) == ["README.txt", "x.png", "y.png"]


def test_predict_names_and_skips_bad_images_and_segments_large_ones_in_tiles(untrained_segmenter, tmp_path, caplog):
    predict = load_stage("predict").predict
    photos = tmp_path / "photos"
    photos.mkdir()
    Image.fromarray(np.full((16, 20, 3), 100, np.uint8)).save(photos / "fine.jpg")
    Image.fromarray(np.full((1, 1, 3), 100, np.uint8)).save(photos / "dot.png")
    (photos / "broken.jpg").write_bytes(b"not a jpeg")
    large = np.random.default_rng(0).integers(0, 255, (150, 90, 3), dtype=np.uint8)
    Image.fromarray(large).save(photos / "large.png")
    masks = tmp_path / "masks"
    with caplog.at_level(logging.INFO):
        predict(str(untrained_segmenter), str(photos), str(masks), scales=(1.0, 0.5), large="tiles", max_side=64)
    assert sorted(p.name for p in masks.glob("*.png")) == ["fine.png", "large.png"]
    assert Image.open(masks / "large.png").size == (90, 150)
    readme = (masks / "README.txt").read_text()
    assert "Skipped broken.jpg: " in readme and "cannot read image" in readme
    assert "Skipped dot.png: 1x1 is smaller than 2 px a side" in readme
    assert "2 of 4 images skipped" in caplog.text and "large.png: 90x150, 8 tiles of at most 64 px" in caplog.text
    assert "peak memory: " in caplog.text


def test_predict_downscales_a_large_image_and_refines_it_with_the_crf(untrained_segmenter, tmp_path, caplog):
    predict = load_stage("predict").predict
    photos = tmp_path / "photos"
    photos.mkdir()
    large = np.random.default_rng(1).integers(0, 255, (150, 90, 3), dtype=np.uint8)
    Image.fromarray(large).save(photos / "large.png")
    with caplog.at_level(logging.INFO):
        predict(str(untrained_segmenter), str(photos), str(tmp_path / "masks"), scales=(1.0,), crf=True, max_side=64)
    assert Image.open(tmp_path / "masks" / "large.png").size == (90, 150)
    assert "large.png: 90x150, downscaled to 38x64" in caplog.text


def test_predict_with_no_image_it_can_read_fails_naming_each(untrained_segmenter, tmp_path):
    predict = load_stage("predict").predict
    photos = tmp_path / "photos"
    photos.mkdir()
    (photos / "broken.jpg").write_bytes(b"not a jpeg")
    with pytest.raises(DatasetError, match="none of the 1 images could be segmented: broken.jpg: "):
        predict(str(untrained_segmenter), str(photos), str(tmp_path / "masks"), scales=(1.0,))
    assert not (tmp_path / "masks").exists()


def test_training_from_a_deeplab_caffe_file_starts_from_its_weights_and_evaluates_with_the_reference_crf_image(
    pseudo_labelled, tmp_path
):
    from wsss.rehearsal.weights import write_deeplab_caffe_resnet, write_torchvision_resnet

    root, manifest, labels, ids = pseudo_labelled
    weights = tmp_path / "deeplabv1_resnet50-imagenet.pth"
    write_deeplab_caffe_resnet(weights, "resnet50", seed=3)
    reference = dict(init="deeplab_caffe", contract_dilation=False, stem_pool_ceil_mode=True, lr_step=10)
    checkpoint = tmp_path / "segmenter.pt"
    train_tiny_segmenter(root, manifest, labels, checkpoint, backbone="resnet50", pretrained=str(weights), **reference)
    state = torch.load(checkpoint, weights_only=True)
    source = torch.load(weights, weights_only=True)
    assert {k: state["meta"][k] for k in ("init", "contract_dilation", "stem_pool_ceil_mode")} == {
        k: reference[k] for k in ("init", "contract_dilation", "stem_pool_ceil_mode")
    }
    for ours, theirs in [("bn1", "layer1.conv1.bn"), ("layer3.5.bn2", "layer4.block6.conv3x3.bn")]:  # frozen BN
        assert torch.equal(state["model"][f"backbone.{ours}.running_var"], source[f"{theirs}.running_var"])

    eval_train_split(root, manifest, checkpoint, tmp_path, crf_image="mean_subtracted_bgr", headline="crf")
    assert read_label_folder_png(tmp_path / "shard_predictions", ids[0], (32, 40)).max() <= 2

    torchvision_file = tmp_path / "resnet50.pth"
    write_torchvision_resnet(torchvision_file, "resnet50")
    with pytest.raises(
        ConfigError, match=r"resnet50.pth: weights do not fit deeplab-pytorch's Caffe-converted resnet50"
    ):
        train_tiny_segmenter(
            root,
            manifest,
            labels,
            tmp_path / "wrong.pt",
            backbone="resnet50",
            pretrained=str(torchvision_file),
            **reference,
        )
