"""The reference's released CAM networks, read as they are and converted into this project's CAMNet."""

import pytest
import torch

from wsss.checkpoints import file_sha256
from wsss.errors import ConfigError
from wsss.models.cam_net import CLIP_MEAN, CLIP_STD, CameraReadyCAMNet
from wsss.models.released_cams import CAMERA_READY, IMPROVED, read_released_cam
from wsss.rehearsal.weights import CameraReadyClimsLayout, ReleasedCamLayout


def saved(layout, path, edit=None):
    """``layout`` saved at ``path`` with non-trivial BatchNorm statistics (so a swapped layer shows), in eval mode."""
    for module in layout.modules():
        if isinstance(module, torch.nn.BatchNorm2d):
            module.running_mean.normal_(0, 0.1)
            module.running_var.uniform_(0.5, 1.5)
            module.weight.data.uniform_(0.5, 1.5)
    state = layout.state_dict()
    if edit:
        state = edit(state)
    torch.save(state, path)
    return layout.eval()


def released_file(path, num_classes=20, edit=None):
    """IRN's res50_cam.pth layout."""
    torch.manual_seed(1)
    return saved(ReleasedCamLayout(num_classes), path, edit)


def test_a_released_file_gives_the_reference_networks_cams(tmp_path):
    path = tmp_path / "res50_cam.pth"
    reference = released_file(path)
    model, provenance = read_released_cam(path, 20)
    images = torch.randn(2, 3, 64, 96)
    with torch.no_grad():
        torch.testing.assert_close(model.eval().cams(images), reference(images), rtol=0, atol=0)
    assert provenance["sha256"] == file_sha256(path) and provenance["bytes"] == path.stat().st_size
    assert provenance["layout"] == IMPROVED


def test_a_data_parallel_prefix_is_dropped(tmp_path):
    path = tmp_path / "res50_cam.pth"
    reference = released_file(path, edit=lambda state: {f"module.{k}": v for k, v in state.items()})
    model, _ = read_released_cam(path, 20)
    images = torch.randn(1, 3, 48, 48)
    with torch.no_grad():
        torch.testing.assert_close(model.eval().cams(images), reference(images), rtol=0, atol=0)


def test_a_file_for_another_class_count_names_the_classifier_and_both_shapes(tmp_path):
    path = tmp_path / "res50_cam_coco.pth"
    released_file(path, num_classes=80)
    with pytest.raises(
        ConfigError,
        match=r"res50_cam_coco\.pth.*with 20 classes.*"
        r"classifier\.weight: expected \(20, 2048, 1, 1\), found \(80, 2048, 1, 1\)",
    ):
        read_released_cam(path, 20)


def test_keys_of_another_network_are_named(tmp_path):
    path = tmp_path / "res50_cam.pth"
    released_file(path, edit=lambda state: {**state, "edge_layers.0.weight": torch.zeros(1)})
    with pytest.raises(ConfigError, match=r"res50_cam\.pth: 1 keys are not part of .*\(edge_layers\.0\.weight\)"):
        read_released_cam(path, 20)


def test_copies_of_one_parameter_that_differ_are_refused_naming_both(tmp_path):
    def tamper(state):
        state["stage2.0.0.conv1.weight"] = state["stage2.0.0.conv1.weight"] + 1
        return state

    path = tmp_path / "res50_cam.pth"
    released_file(path, edit=tamper)
    with pytest.raises(
        ConfigError, match=r"stage2\.0\.0\.conv1\.weight and resnet50\.layer2\.0\.conv1\.weight .* different"
    ):
        read_released_cam(path, 20)


def test_a_layer_missing_under_every_name_is_named(tmp_path):
    path = tmp_path / "res50_cam.pth"
    dropped = ("resnet50.layer4.2.", "stage4.0.2.", "backbone.3.0.2.")
    released_file(path, edit=lambda state: {k: v for k, v in state.items() if not k.startswith(dropped)})
    with pytest.raises(ConfigError, match=r"missing keys \(backbone\.layer4\.2\.conv1\.weight"):
        read_released_cam(path, 20)


def test_a_torchvision_imagenet_file_is_not_taken_for_a_cam_network(tmp_path):
    import torchvision

    path = tmp_path / "resnet50-imagenet.pth"
    torch.save(torchvision.models.resnet50(weights=None).state_dict(), path)
    with pytest.raises(ConfigError, match=r"resnet50-imagenet\.pth: .* keys are not part of"):
        read_released_cam(path, 20)


def camera_ready_file(path, num_classes=20):
    """CLIMS's camera-ready network's layout."""
    torch.manual_seed(2)
    return saved(CameraReadyClimsLayout(num_classes), path)


def test_clims_camera_ready_network_gives_its_cams_without_the_background_map(tmp_path):
    """previous_version/models/clip_resnet.CLIMS: conv1..layer4 at the top level and a cam_head whose
    first of C + 1 maps is the background (the layout matches the reference's code: bench/compare_reference.py)."""
    path = tmp_path / "clims_voc12.pth"
    reference = camera_ready_file(path)
    model, provenance = read_released_cam(path, 20)
    assert isinstance(model, CameraReadyCAMNet) and provenance["layout"] == CAMERA_READY
    assert model.input_mean == CLIP_MEAN and model.input_std == CLIP_STD  # its inference_cam.py normalises so
    images = torch.randn(2, 3, 64, 96)
    with torch.no_grad():
        torch.testing.assert_close(model.eval().cams(images), reference(images), rtol=0, atol=0)


def test_the_import_stage_keeps_the_camera_ready_head_and_refuses_it_as_the_baseline(tmp_path):
    from conftest import REPO, load_stage

    from wsss.models.cam_net import cam_net_from_state, read_cam_checkpoint

    stage = load_stage("import_released_cam").import_released_cam
    camera_ready_file(tmp_path / "clims_voc12.pth")
    manifest = str(REPO / "data_manifest" / "voc12.yaml")
    checkpoint = tmp_path / "clims_cam.pt"
    stage(str(tmp_path / "clims_voc12.pth"), manifest, str(checkpoint), str(tmp_path / "clims_cam.json"), "clims")
    model = cam_net_from_state(read_cam_checkpoint(checkpoint), str(checkpoint))
    assert isinstance(model, CameraReadyCAMNet) and model.cam_head[1].weight.shape == (21, 2048, 1, 1)
    with pytest.raises(ConfigError, match=r"clims_voc12\.pth: a CLIMS camera-ready .* not for the baseline"):
        stage(str(tmp_path / "clims_voc12.pth"), manifest, str(tmp_path / "b.pt"), str(tmp_path / "b.json"), "baseline")
    assert not (tmp_path / "b.pt").exists()
