"""The reference's DeepLab network: deeplab-pytorch's Caffe ResNet file read into mmseg's ResNet, its
stem pooling, dilations, input, learning-rate steps and the CRF's image, each on a small example."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from wsss.errors import ConfigError
from wsss.models.deeplab import stepped_poly_factor
from wsss.models.deeplab_caffe import DEEPLAB_MEAN_BGR, read_deeplab_caffe_resnet
from wsss.models.segmenter import (
    SegmenterSettings,
    TrainingPlan,
    model_config,
    network_input,
    register_modules,
    training_config,
)
from wsss.refine.crf import crf_image, mean_subtracted_bgr_uint8
from wsss.rehearsal.weights import write_deeplab_caffe_resnet, write_torchvision_resnet

REFERENCE = dict(init="deeplab_caffe", contract_dilation=False, stem_pool_ceil_mode=True)


def _build(settings: SegmenterSettings) -> torch.nn.Module:
    from mmseg.registry import MODELS

    register_modules()
    return MODELS.build(model_config(settings)).eval()


def _deeplab_pytorch_resnet(state: dict, x: torch.Tensor, blocks=(3, 4, 23, 3)) -> torch.Tensor:
    """deeplab-pytorch's DeepLabV2 backbone (libs/models/resnet.py, deeplabv2.py), written from its key
    names: stem 7x7/2 + BN + ReLU, max-pool 3/2/1 ceil_mode; stages layer2..layer5 with strides
    1/2/1/1 and dilations 1/1/2/4 in every block, the stride on the 1x1 ``reduce`` and ``shortcut``."""

    def conv_bn(h, name, stride=1, padding=0, dilation=1, relu=True):
        h = F.conv2d(h, state[f"{name}.conv.weight"], stride=stride, padding=padding, dilation=dilation)
        bn = {k: state[f"{name}.bn.{k}"] for k in ("running_mean", "running_var", "weight", "bias")}
        h = F.batch_norm(h, bn["running_mean"], bn["running_var"], bn["weight"], bn["bias"], False, 0.0, 1e-5)
        return F.relu(h) if relu else h

    x = F.max_pool2d(conv_bn(x, "layer1.conv1", stride=2, padding=3), 3, 2, 1, ceil_mode=True)
    for layer, count, stride, dilation in zip((2, 3, 4, 5), blocks, (1, 2, 1, 1), (1, 1, 2, 4)):
        for block in range(1, count + 1):
            name, step = f"layer{layer}.block{block}", stride if block == 1 else 1
            h = conv_bn(x, f"{name}.reduce", stride=step)
            h = conv_bn(h, f"{name}.conv3x3", padding=dilation, dilation=dilation)
            h = conv_bn(h, f"{name}.increase", relu=False)
            x = F.relu(h + (conv_bn(x, f"{name}.shortcut", stride=step, relu=False) if block == 1 else x))
    return x


@pytest.fixture(scope="module")
def caffe_file(tmp_path_factory):
    """The rehearsal's deeplab-pytorch ResNet-101 file with every BatchNorm value random, so that
    each block, each statistic and each dilation changes the features."""
    path = tmp_path_factory.mktemp("deeplab") / "deeplabv1_resnet101-imagenet.pth"
    write_deeplab_caffe_resnet(path, "resnet101", seed=0)
    state = torch.load(path, weights_only=True)
    generator = torch.Generator().manual_seed(1)
    for key, value in state.items():
        if ".bn." in key and value.is_floating_point():
            low, high = {"weight": (0.1, 0.4), "bias": (-0.1, 0.1), "running_mean": (-0.1, 0.1)}.get(
                key.rsplit(".", 1)[1], (0.5, 1.5)
            )
            state[key] = torch.empty(value.shape).uniform_(low, high, generator=generator)
    torch.save(state, path)
    return path, state


def test_generated_file_has_deeplab_pytorchs_names_and_no_aspp(caffe_file):
    _, state = caffe_file
    assert state["layer1.conv1.conv.weight"].shape == (64, 3, 7, 7)
    assert "layer1.conv1.conv.bias" not in state  # Caffe's convolutions are bias-free
    assert state["layer4.block23.increase.bn.running_var"].shape == (1024,)
    assert state["layer5.block1.shortcut.conv.weight"].shape == (2048, 1024, 1, 1)
    assert state["layer3.block1.reduce.bn.num_batches_tracked"].dtype == torch.int64
    assert state["fc.weight"].shape == (1000, 2048, 1, 1)
    assert not [key for key in state if key.startswith("aspp")]
    assert len([key for key in state if key.endswith(".conv.weight")]) == 1 + 33 * 3 + 4


def test_caffe_file_in_mmseg_resnet_gives_deeplab_pytorchs_features(caffe_file):
    path, state = caffe_file
    model = _build(SegmenterSettings("deeplabv2", "resnet101", 2, ("cat",), **REFERENCE)).double()
    model.backbone.load_state_dict(read_deeplab_caffe_resnet(path, "resnet101"))
    x = torch.randn(1, 3, 35, 35, generator=torch.Generator().manual_seed(2), dtype=torch.float64) * 50
    with torch.no_grad():
        ours = model.backbone(x)[3]
    expected = _deeplab_pytorch_resnet({k: v.double() for k, v in state.items()}, x)
    assert ours.shape == expected.shape == (1, 2048, 5, 5)  # 35 -> 18 -> 10 (ceil) -> 5
    assert torch.allclose(ours, expected, rtol=1e-9, atol=1e-9 * expected.abs().max().item())
    # mmseg's own variant (stride on the 3x3, first dilated block halved, floor pooling) differs.
    mmseg = _build(SegmenterSettings("deeplabv2", "resnet101", 2, ("cat",))).double()
    mmseg.backbone.load_state_dict(read_deeplab_caffe_resnet(path, "resnet101"))
    with torch.no_grad():
        assert mmseg.backbone(x)[3].shape == (1, 2048, 5, 5)
        assert not torch.allclose(mmseg.backbone(x)[3], expected, rtol=1e-3)


def test_torchvision_file_given_as_caffe_file_is_refused_naming_the_file_and_keys(tmp_path):
    path = tmp_path / "resnet101.pth"
    write_torchvision_resnet(path, "resnet101")
    with pytest.raises(ConfigError) as error:
        read_deeplab_caffe_resnet(path, "resnet101")
    message = str(error.value)
    assert str(path) in message and "missing keys (layer1.conv1.conv.weight" in message
    assert "unexpected keys (conv1.weight" in message


def test_caffe_file_with_aspp_or_of_another_depth_is_refused(caffe_file, tmp_path):
    _, state = caffe_file
    with_aspp = tmp_path / "deeplabv2.pth"
    torch.save({**state, "aspp.c0.weight": torch.zeros(21, 2048, 3, 3)}, with_aspp)
    with pytest.raises(ConfigError, match=r"deeplabv2.pth.*1 unexpected keys \(aspp.c0.weight\)"):
        read_deeplab_caffe_resnet(with_aspp, "resnet101")
    with pytest.raises(ConfigError, match=r"missing keys"):
        read_deeplab_caffe_resnet(caffe_file[0], "resnet152")
    with pytest.raises(ConfigError, match="bottleneck"):
        read_deeplab_caffe_resnet(caffe_file[0], "resnet18")


def test_caffe_input_is_bgr_minus_the_reference_mean_without_std():
    rgb = np.array([[[10, 120, 250]]], np.uint8)
    caffe = _build(SegmenterSettings("deeplabv2", "resnet18", 2, ("cat",), init="deeplab_caffe"))
    got = network_input(caffe, rgb).flatten().tolist()
    assert got == pytest.approx([250 - 104.008, 120 - 116.669, 10 - 122.675])
    torchvision = _build(SegmenterSettings("deeplabv2", "resnet18", 2, ("cat",)))
    got = network_input(torchvision, rgb).flatten().tolist()
    assert got == pytest.approx([(10 - 123.675) / 58.395, (120 - 116.28) / 57.12, (250 - 103.53) / 57.375])


def test_caffe_training_pads_with_the_reference_mean_in_bgr(tmp_path):
    settings = SegmenterSettings("deeplabv2", "resnet18", 2, ("cat",), init="deeplab_caffe")
    config = training_config(
        settings,
        TrainingPlan(),
        image_dir="i",
        image_suffix=".jpg",
        label_dir="l",
        id_file="ids.txt",
        work_dir=str(tmp_path),
        device=torch.device("cpu"),
        workers=0,
    )
    pad = next(t for t in config["train_dataloader"]["dataset"]["pipeline"] if t["type"] == "Pad")
    assert pad["pad_val"]["img"] == DEEPLAB_MEAN_BGR
    preprocessor = config["model"]["data_preprocessor"]
    assert (preprocessor["mean"], preprocessor["std"], preprocessor["bgr_to_rgb"]) == (
        list(DEEPLAB_MEAN_BGR),
        [1.0, 1.0, 1.0],
        False,
    )


@pytest.mark.parametrize(("ceil", "sizes"), [(True, [41, 21, 31]), (False, [41, 20, 30])])
def test_msc_logits_of_a_321_crop_are_41_21_31_with_the_reference_stem_pool(ceil, sizes):
    from wsss.models.deeplab import scale_pyramid_logits

    model = _build(SegmenterSettings("deeplabv2", "resnet18", 2, ("cat",), stem_pool_ceil_mode=ceil))
    with torch.no_grad():
        pyramid = scale_pyramid_logits(
            lambda x: model.decode_head(model.extract_feat(x)), torch.zeros(1, 3, 321, 321), (1.0, 0.5, 0.75)
        )
    assert [logits.shape[-1] for logits in pyramid] == sizes


@pytest.mark.parametrize(("contract", "first"), [(False, 2), (True, 1)])
def test_first_block_of_a_dilated_stage_has_the_full_dilation_unless_contracted(contract, first):
    model = _build(SegmenterSettings("deeplabv2", "resnet50", 2, ("cat",), contract_dilation=contract))
    assert model.backbone.layer3[0].conv2.dilation == (first, first)
    assert model.backbone.layer3[1].conv2.dilation == (2, 2)
    assert model.backbone.layer4[0].conv2.dilation == (2 * first, 2 * first)


def test_learning_rate_is_updated_every_lr_step_steps_as_polynomial_lr_step_size():
    # PolynomialLR(step_size=10, iter_max=30000, power=0.9), stepped with epoch=iteration after
    # each optimiser step: steps 1-10 (0-based 0-9) run at the base rate, 11-20 at (1 - 10/30000)^0.9.
    factors = [stepped_poly_factor(step, 30000, 0.9, 10) for step in (0, 9, 10, 19, 20)]
    first, second = (1 - 10 / 30000) ** 0.9, (1 - 20 / 30000) ** 0.9
    assert factors == pytest.approx([1.0, 1.0, first, first, second], abs=1e-15)
    assert stepped_poly_factor(19, 30000, 0.9, 1) == pytest.approx((1 - 19 / 30000) ** 0.9)


def test_scheduler_applies_the_stepped_rate_per_optimiser_step_with_accumulation():
    from mmengine.optim import OptimWrapper

    from wsss.models.mmseg_modules import SteppedPolyLR

    parameter = torch.nn.Parameter(torch.zeros(1))
    wrapper = OptimWrapper(torch.optim.SGD([{"params": [parameter], "lr": 0.5}], lr=0.5))
    scheduler = SteppedPolyLR(wrapper, iterations=4, power=1.0, step_size=2, accumulation=2, by_epoch=False)
    rates = []
    for _ in range(8):  # 8 forward passes = 4 optimiser steps
        rates.append(wrapper.param_groups[0]["lr"])
        wrapper.step()
        scheduler.step()
    assert rates == pytest.approx([0.5, 0.5, 0.5, 0.5, 0.25, 0.25, 0.25, 0.25])  # steps 2-3: 0.5 x (1 - 2/4)


def test_reference_crf_image_is_the_mean_subtracted_bgr_wrapped_to_uint8():
    rgb = np.array([[[200, 117, 100], [122, 116, 104]]], np.uint8)
    # B: 100 - 104.008 = -4.008 -> -4 -> 252; G: 117 - 116.669 = 0.331 -> 0; R: 200 - 122.675 = 77.325 -> 77
    # second pixel: 104 - 104.008 -> -0.008 -> 0; 116 - 116.669 -> -0.669 -> 0; 122 - 122.675 -> 0
    expected = np.array([[[252, 0, 77], [0, 0, 0]]], np.uint8)
    assert np.array_equal(mean_subtracted_bgr_uint8(rgb, DEEPLAB_MEAN_BGR), expected)
    assert np.array_equal(crf_image(rgb, "mean_subtracted_bgr"), expected)
    assert crf_image(rgb, "rgb") is rgb


@pytest.mark.parametrize("name", ["voc12", "coco14"])
def test_voc_and_coco_select_the_reference_network_schedule_and_crf_image(name):
    import yaml

    written = yaml.safe_load(open(f"configs/{name}.yaml"))
    segmenter = {key: written["segmenter"][key] for key in (*REFERENCE, "pretrained", "lr_step")}
    assert segmenter == {**REFERENCE, "pretrained": "weights/deeplabv1_resnet101-imagenet.pth", "lr_step": 10}
    assert written["eval_seg"]["crf_image"] == "mean_subtracted_bgr"
    rehearsal = yaml.safe_load(open(f"configs/rehearse_{name}.yaml"))["segmenter"]["pretrained"]
    assert rehearsal == "weights/rehearsal/deeplab/deeplabv1_resnet101-imagenet.pth"  # make_rehearsal.py writes it
