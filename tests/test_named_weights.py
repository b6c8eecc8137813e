"""ImageNet ResNets by name (torchvision:<architecture>.<tag>): read from torch's cache through torchvision's
weights API, checked as a file given by path, and recorded (file, sha256) in the stage's run record."""

import logging

import pytest
import torch
import torchvision

from wsss.checkpoints import file_sha256
from wsss.errors import ConfigError
from wsss.models.backbone import ResNetBackbone
from wsss.named_weights import CACHE_FILES, cache_file, hub_checkpoints, weights_file
from wsss.rehearsal.weights import write_torchvision_resnet


def test_the_cache_file_names_are_torchvision_s_own(monkeypatch, tmp_path):
    for name, file in CACHE_FILES.items():
        architecture, tag = name.split(".")
        assert torchvision.models.get_model_weights(architecture)[tag].url.rsplit("/", 1)[1] == file
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    assert hub_checkpoints() == tmp_path / "hub" / "checkpoints"
    assert str(hub_checkpoints()) == torch.hub.get_dir() + "/checkpoints"


def test_a_name_loads_the_cached_file_into_the_backbone_and_records_its_sha256(monkeypatch, tmp_path, caplog):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    cached = cache_file("torchvision:resnet50.IMAGENET1K_V1")
    cached.parent.mkdir(parents=True)
    write_torchvision_resnet(cached, "resnet50", seed=3)  # as if torchvision had downloaded it: no network
    with caplog.at_level(logging.INFO, logger="run"):
        backbone = ResNetBackbone("resnet50", 16, "torchvision:resnet50.IMAGENET1K_V1")
    state = torch.load(cached, weights_only=True)
    torch.testing.assert_close(backbone.layer3[0].conv2.weight, state["layer3.0.conv2.weight"])
    torch.testing.assert_close(backbone.stem[0].weight, state["conv1.weight"])
    assert f"'file': '{cached}', 'sha256': '{file_sha256(cached)}'" in caplog.text
    assert weights_file("weights/some.pth") == "weights/some.pth"  # a path stays a path


def test_a_cached_file_of_another_depth_is_refused_naming_it(monkeypatch, tmp_path):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    cached = cache_file("torchvision:resnet50.IMAGENET1K_V1")
    cached.parent.mkdir(parents=True)
    write_torchvision_resnet(cached, "resnet18")
    with pytest.raises(ConfigError, match=f"{cached}: weights do not fit a torchvision resnet50"):
        ResNetBackbone("resnet50", 16, "torchvision:resnet50.IMAGENET1K_V1")


def test_an_unknown_name_is_refused_with_the_known_ones():
    with pytest.raises(ConfigError, match=r"not a torchvision ImageNet ResNet.*torchvision:resnet101.IMAGENET1K_V1"):
        weights_file("torchvision:resnet152.IMAGENET1K_V1")
