"""Weight files are checked before training: errors name the file and say what does not fit."""

import pytest
import torch
import torchvision
from conftest import load_stage, load_tool, write_code_payload

from wsss.checkpoints import check_resnet_weights, load_checked, read_checkpoint, save_model
from wsss.errors import ConfigError
from wsss.models.backbone import ResNetBackbone


@pytest.fixture(scope="module")
def resnet18_file(tmp_path_factory):
    """A randomly initialised torchvision resnet18 saved like torchvision's ImageNet files (fc included)."""
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("weights") / "resnet18-random.pth"
    torch.save(torchvision.models.resnet18(weights=None).state_dict(), path)
    return path


def test_matching_weights_load_with_or_without_fc_and_old_batchnorm_counters(resnet18_file, tmp_path):
    state = torch.load(resnet18_file, weights_only=True)
    old = {k: v for k, v in state.items() if not k.startswith("fc.") and not k.endswith("num_batches_tracked")}
    torch.save(old, tmp_path / "old.pth")
    for path in (resnet18_file, tmp_path / "old.pth"):
        backbone = ResNetBackbone("resnet18", 16, path)
        assert torch.equal(backbone.layer4[1].conv2.weight, state["layer4.1.conv2.weight"])
        check_resnet_weights(path, "resnet18")


def test_truncated_file_names_the_file(resnet18_file, tmp_path):
    broken = tmp_path / "truncated.pth"
    broken.write_bytes(resnet18_file.read_bytes()[:50000])
    with pytest.raises(ConfigError, match=r"truncated\.pth: not a readable PyTorch weights file"):
        ResNetBackbone("resnet50", 16, broken)
    with pytest.raises(ConfigError, match=r"truncated\.pth: not a readable PyTorch weights file"):
        read_checkpoint(broken)


def test_wrong_architecture_lists_missing_keys_and_shape_mismatches(resnet18_file):
    with pytest.raises(ConfigError) as error:
        ResNetBackbone("resnet50", 16, resnet18_file)
    message = str(error.value)
    assert message.startswith(f"{resnet18_file}: weights do not fit a torchvision resnet50: 165 missing keys")
    assert "missing keys (layer1.0.conv3.weight" in message and ", ...)" in message
    assert "shape mismatches (layer1.0.conv1.weight: expected (64, 64, 1, 1), found (64, 64, 3, 3); " in message
    with pytest.raises(ConfigError, match=r"resnet18-random\.pth: weights do not fit a torchvision resnet101"):
        check_resnet_weights(resnet18_file, "resnet101")


def test_non_checkpoint_files_name_the_file(resnet18_file, tmp_path):
    text = tmp_path / "notes.pth"
    text.write_text("not weights at all\n")
    with pytest.raises(ConfigError, match=r"notes\.pth: not a readable PyTorch weights file"):
        ResNetBackbone("resnet18", 16, text)
    numbers = tmp_path / "numbers.pth"
    torch.save([1, 2, 3], numbers)
    with pytest.raises(ConfigError, match=r"numbers\.pth: expected a state dict .*found a list"):
        ResNetBackbone("resnet18", 16, numbers)
    with pytest.raises(ConfigError, match=r"resnet18-random\.pth: not a checkpoint of this pipeline"):
        read_checkpoint(resnet18_file)  # ImageNet weights given where a CAM checkpoint is expected
    with pytest.raises(ConfigError, match=r"nowhere\.pth: weights file is missing"):
        ResNetBackbone("resnet18", 16, tmp_path / "nowhere.pth")


def test_checkpoint_of_another_model_names_the_file(tmp_path):
    path = tmp_path / "cam.pt"
    save_model(path, torch.nn.Linear(3, 2), {"num_classes": 2})
    state = read_checkpoint(path)
    with pytest.raises(ConfigError, match=r"cam\.pt: weights do not fit a Linear: 1 shape mismatches \(weight: "):
        load_checked(torch.nn.Linear(4, 2), state["model"], path)
    extra = {**state["model"], "scale": torch.ones(1)}
    with pytest.raises(ConfigError, match=r"1 unexpected keys \(scale\)"):
        load_checked(torch.nn.Linear(3, 2), extra, path)


def test_convert_tool_writes_the_state_dict_the_configs_read(resnet18_file, tmp_path):
    tool = load_tool("convert_imagenet_weights")
    state = torch.load(resnet18_file, weights_only=True)
    wrapped = tmp_path / "wrapped.pth"
    torch.save({"state_dict": {f"module.{k}": v for k, v in state.items()}, "epoch": 90}, wrapped)
    for source in (resnet18_file, wrapped):
        target = tmp_path / "weights" / "resnet18-imagenet.pth"
        tool.main([str(source), str(target), "--depth", "resnet18"])
        written = torch.load(target, weights_only=True)
        assert written.keys() == state.keys() and all(torch.equal(written[k], state[k]) for k in state)
        ResNetBackbone("resnet18", 16, target)
    with pytest.raises(ConfigError, match=r"resnet18-random\.pth: weights do not fit a torchvision resnet50"):
        tool.main([str(resnet18_file), str(tmp_path / "out.pth"), "--depth", "resnet50"])


def test_code_payload_given_between_stages_is_refused_unrun(tmp_path):
    """A pickle that runs code when unpickled, given as a stage's checkpoint: an error naming it, nothing run."""
    train_clims = load_stage("train_clims").train_clims
    irn_backbone = load_stage("train_irn").irn_backbone

    evil, marker = tmp_path / "baseline_cam.pt", tmp_path / "payload-ran"
    write_code_payload(evil, marker)
    refused = r"baseline_cam\.pt: not a weights file or checkpoint of this pipeline: it pickles Python objects"
    with pytest.raises(ConfigError, match=refused):
        read_checkpoint(evil)
    with pytest.raises(ConfigError, match=refused):
        train_clims("root", "manifest.yaml", str(evil), "clims.pt", "clims.json", clip_model="ViT-B/16")
    with pytest.raises(ConfigError, match=refused):
        irn_backbone("cam", "resnet18", str(evil), None)
    with pytest.raises(ConfigError, match=refused):
        ResNetBackbone("resnet18", 16, evil)
    assert not marker.exists()


def test_cam_checkpoint_truncated_of_another_stage_or_architecture_names_the_file(tmp_path):
    from wsss.models.cam_net import CAMNet

    train_clims = load_stage("train_clims").train_clims
    irn_backbone = load_stage("train_irn").irn_backbone
    cam = tmp_path / "cam.pt"
    save_model(cam, CAMNet(2, "resnet18", 16), {"num_classes": 2, "backbone": "resnet18", "output_stride": 16})
    truncated = tmp_path / "truncated_cam.pt"
    truncated.write_bytes(cam.read_bytes()[: cam.stat().st_size // 2])
    with pytest.raises(ConfigError, match=r"truncated_cam\.pt: not a readable PyTorch weights file"):
        irn_backbone("cam", "resnet18", str(truncated), None)
    other = tmp_path / "other_stage.pt"
    save_model(other, torch.nn.Linear(3, 2), {"num_classes": 2})
    lacks = r"other_stage\.pt: a checkpoint of another kind: its metadata lacks \['backbone', 'output_stride'\]"
    with pytest.raises(ConfigError, match=lacks):
        irn_backbone("cam", "resnet18", str(other), None)
    with pytest.raises(ConfigError, match=lacks):
        train_clims("root", "manifest.yaml", str(other), "clims.pt", "clims.json", clip_model="ViT-B/16")
    mislabelled = tmp_path / "mislabelled.pt"  # resnet18 weights whose metadata says resnet34
    save_model(mislabelled, CAMNet(2, "resnet18", 16), {"num_classes": 2, "backbone": "resnet34", "output_stride": 16})
    with pytest.raises(ConfigError, match=r"mislabelled\.pt: weights do not fit a ResNetBackbone: \d+ missing keys"):
        irn_backbone("cam", "resnet18", str(mislabelled), None)


def test_a_checkpoint_of_another_stage_names_the_file_the_missing_metadata_and_the_stage_expected(tmp_path):
    """A CAM checkpoint given to eval_seg or predict, an IRN's or a segmenter-like one to make_cam."""
    import yaml
    from conftest import write_tiny_voc
    from PIL import Image

    from wsss.models.cam_net import CAMNet

    make_cam = load_stage("make_cam").make_cam
    eval_seg = load_stage("eval_seg").eval_seg
    predict = load_stage("predict").predict
    cam = tmp_path / "clims_cam.pt"
    save_model(cam, CAMNet(2, "resnet18", 16), {"num_classes": 2, "backbone": "resnet18", "output_stride": 16})
    root = tmp_path / "VOC"
    write_tiny_voc(root, n=1)
    manifest = tmp_path / "manifest.yaml"
    manifest.write_text(yaml.safe_dump({"name": "tiny", "classes": ["cat", "diningtable"]}))
    images = tmp_path / "images"
    images.mkdir()
    Image.new("RGB", (8, 8)).save(images / "photo.jpg")

    segmenter = r"clims_cam\.pt: a checkpoint of another kind: its metadata lacks \['model', 'class_names'\]"
    segmenter += r"; expected a segmenter checkpoint \(train_seg's\)"
    with pytest.raises(ConfigError, match=segmenter):
        eval_seg(str(root), str(manifest), str(cam), str(tmp_path / "shard"), str(tmp_path / "counts.npz"), "train")
    with pytest.raises(ConfigError, match=segmenter):
        predict(str(cam), str(images), str(tmp_path / "predicted"))

    cams = dict(root=str(root), manifest=str(manifest), cams=str(tmp_path / "cams"), splits=["train"])
    expected_cam = r"; expected a CAM checkpoint \(train_cam's or train_clims'\)"
    irn = tmp_path / "irn.pt"  # meta of train_irn's checkpoints: no num_classes
    save_model(irn, torch.nn.Linear(3, 2), {"backbone": "resnet18", "output_stride": 16, "radius": 5, "path": 4})
    with pytest.raises(ConfigError, match=r"irn\.pt: .* its metadata lacks \['num_classes'\]" + expected_cam):
        make_cam(checkpoint=str(irn), **cams)
    segmenter_like = tmp_path / "segmenter.pt"
    save_model(segmenter_like, torch.nn.Linear(3, 2), {"model": "deeplabv2", "class_names": ["cat", "diningtable"]})
    lacks = r"\['num_classes', 'backbone', 'output_stride'\]"
    with pytest.raises(ConfigError, match=r"segmenter\.pt: .* its metadata lacks " + lacks + expected_cam):
        make_cam(checkpoint=str(segmenter_like), **cams)
