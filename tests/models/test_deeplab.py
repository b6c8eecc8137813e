"""CLIMS' DeepLabV2 training and test, each behaviour on a small hand-computable example."""

import math
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from conftest import write_tiny_voc
from PIL import Image

from wsss.config import load_config, validate_config
from wsss.models.deeplab import balanced_cross_entropy, labels_at, max_fused, scale_pyramid_logits
from wsss.models.segmenter import (
    PIXEL_MEAN,
    SegmenterSettings,
    TrainingPlan,
    build_model,
    optim_wrapper_config,
    predict_probabilities,
    register_modules,
    training_config,
)

LN2 = math.log(2)


def test_balanced_loss_averages_the_background_and_the_foreground_means():
    # Two classes, pixels: bg with logits (0, 0) -> ln 2; fg with (ln 3, 0) -> ln 4; fg with (0, 0) -> ln 2; ignored.
    logits = torch.tensor([[0.0, math.log(3), 0.0, 9.0], [0.0, 0.0, 0.0, -9.0]]).view(1, 2, 1, 4)
    labels = torch.tensor([[[0, 1, 1, 255]]])
    assert balanced_cross_entropy(logits, labels).item() == pytest.approx((LN2 + (2 * LN2 + LN2) / 2) / 2)  # 1.25 ln 2
    plain = torch.nn.functional.cross_entropy(logits, labels, ignore_index=255)
    assert plain.item() == pytest.approx(4 / 3 * LN2)  # what the plain mean would be


def test_balanced_loss_of_a_batch_without_foreground_is_half_the_background_mean_not_nan():
    logits = torch.zeros(1, 2, 1, 2)
    labels = torch.tensor([[[0, 255]]])
    assert balanced_cross_entropy(logits, labels).item() == pytest.approx(LN2 / 2)
    per_pixel = torch.nn.functional.cross_entropy(logits, labels, ignore_index=255, reduction="none")
    assert torch.isnan(per_pixel[(labels != 0) & (labels != 255)].mean())  # the reference's foreground mean


def test_balanced_loss_module_is_what_the_head_uses():
    register_modules()
    model = build_model(SegmenterSettings("deeplabv2", "resnet18", 2, ("cat",)))
    logits = torch.tensor([[0.0, math.log(3), 0.0], [0.0, 0.0, 0.0]]).view(1, 2, 1, 3)
    loss = model.decode_head.loss_decode(logits, torch.tensor([[[0, 1, 1]]]), ignore_index=255)
    assert model.decode_head.loss_decode.loss_name == "loss_balanced_ce" and loss.item() == pytest.approx(1.25 * LN2)


def test_scale_pyramid_is_msc_bilinear_rescaling_with_floored_sizes():
    image = torch.arange(16.0).view(1, 1, 4, 4)
    full, half = scale_pyramid_logits(lambda x: x, image, (1.0, 0.5))
    assert torch.equal(full, image)
    assert torch.allclose(half, torch.tensor([[2.5, 4.5], [10.5, 12.5]]).view(1, 1, 2, 2))  # 2x2 block means
    sizes = [p.shape[-1] for p in scale_pyramid_logits(lambda x: x, torch.zeros(1, 1, 321, 321), (1.0, 0.5, 0.75))]
    assert sizes == [321, 160, 240]


def test_max_fusion_resizes_to_the_first_logits_and_takes_the_elementwise_max():
    first = torch.tensor([[1.0, 5.0], [3.0, 0.0]]).view(1, 1, 2, 2)
    smaller = torch.full((1, 1, 1, 1), 2.0)  # bilinearly resized: 2 everywhere
    assert torch.equal(max_fused([first, smaller]), torch.tensor([[2.0, 5.0], [3.0, 2.0]]).view(1, 1, 2, 2))


def test_labels_are_resized_by_nearest_neighbour_at_pixel_centres_as_pil():
    assert labels_at(torch.tensor([[[0, 1, 2, 3]]]), (1, 2)).tolist() == [[[1, 3]]]  # torch's "nearest": [0, 2]
    labels = np.random.default_rng(0).integers(0, 21, (7, 9)).astype(np.uint8)
    pil = np.asarray(Image.fromarray(labels).resize((5, 4), Image.NEAREST))
    assert np.array_equal(labels_at(torch.from_numpy(labels)[None].long(), (4, 5))[0].numpy(), pil)


def _samples(labels: torch.Tensor) -> list:
    from mmengine.structures import PixelData
    from mmseg.structures import SegDataSample

    sample = SegDataSample()
    sample.gt_sem_seg = PixelData(data=labels[None])
    sample.set_metainfo({"img_shape": tuple(labels.shape), "pad_shape": tuple(labels.shape)})
    return [sample]


def test_msc_loss_is_summed_over_four_outputs_with_the_labels_resized_to_each(monkeypatch):
    model = build_model(SegmenterSettings("deeplabv2", "resnet18", 2, ("cat",)))
    # Every output's logits are (0, ln 3): ln 4 on background, ln 4/3 on foreground pixels.
    monkeypatch.setattr(model, "_logits", lambda x: torch.stack([x[:, 0] * 0, x[:, 0] * 0 + math.log(3)], dim=1))
    labels = torch.tensor([[0, 0, 1, 1]] * 3 + [[255, 0, 1, 255]])
    losses = model.loss(torch.zeros(1, 3, 4, 4), _samples(labels))
    names = ["decode", "decode_x0.5", "decode_x0.75", "decode_max"]
    assert list(losses) == [f"{name}.loss_balanced_ce" for name in names]
    balanced = (math.log(4) + math.log(4 / 3)) / 2
    assert [loss.item() for loss in losses.values()] == pytest.approx([balanced] * 4)

    model.decode_head.loss_decode = recorder = _TargetRecorder()
    model.loss(torch.zeros(1, 3, 4, 4), _samples(labels))
    seen = recorder.targets
    assert [target.shape[-1] for target in seen] == [4, 2, 3, 4]  # 1.0, 0.5, 0.75, max (at the 1.0 logits)
    # Pixel-centre sampling: rows / columns 1, 3 at 0.5 and 0, 2, 3 at 0.75.
    assert seen[1].tolist() == [[[0, 1], [0, 255]]] and seen[2].tolist() == [[[0, 1, 1], [0, 1, 1], [255, 1, 255]]]


class _TargetRecorder(torch.nn.Module):
    """A loss module that keeps the labels it is given."""

    loss_name = "loss_recorded"

    def __init__(self):
        super().__init__()
        self.targets = []

    def forward(self, logits, labels, ignore_index):
        self.targets.append(labels)
        return logits.sum() * 0


def test_no_msc_scales_and_loss_at_the_labels_is_mmseg_encoder_decoder_training():
    from mmseg.models.segmentors import EncoderDecoder

    torch.manual_seed(0)
    settings = SegmenterSettings("deeplabv3plus", "resnet18", 3, ("a", "b"), freeze_bn=False, output_stride=16)
    plan = TrainingPlan(loss="cross_entropy", msc_scales=(), loss_resolution="labels")
    register_modules()
    from mmseg.registry import MODELS

    from wsss.models.segmenter import model_config

    model = MODELS.build(model_config(settings, plan=plan)).eval()
    inputs, labels = torch.rand(1, 3, 32, 32), torch.randint(0, 3, (32, 32))
    ours, mmseg = model.loss(inputs, _samples(labels)), EncoderDecoder.loss(model, inputs, _samples(labels))
    assert list(ours) == list(mmseg) == ["decode.loss_ce", "decode.acc_seg"]
    assert all(torch.equal(ours[key], mmseg[key]) for key in ours)


def _training_dataset(tmp_path, plan: TrainingPlan):
    from mmseg.registry import DATASETS

    root = tmp_path / "VOC"
    ids = write_tiny_voc(root, n=2, size=(32, 40))
    register_modules()
    config = training_config(
        SegmenterSettings("deeplabv2", "resnet18", 3, ("cat", "diningtable")),
        plan,
        image_dir=str(root / "JPEGImages"),
        image_suffix=".jpg",
        label_dir=str(root / "SegmentationClass"),
        id_file=str(root / "ImageSets" / "Segmentation" / "train.txt"),
        work_dir=str(tmp_path / "work"),
        device=torch.device("cpu"),
        workers=0,
    )
    return DATASETS.build(config["train_dataloader"]["dataset"]), ids


@pytest.mark.parametrize("factor, real_pixels", [(0.5, 16 * 20), (1.0, 32 * 40), (2.0, 48 * 48)])
def test_reference_augmentation_scales_the_original_size_then_pads_with_the_mean_colour(tmp_path, factor, real_pixels):
    dataset, _ = _training_dataset(tmp_path, TrainingPlan(crop_size=48, scale_factors=(factor,)))
    for _ in range(4):  # random crops and flips
        sample = dataset[0]
        image, labels = sample["inputs"], sample["data_samples"].gt_sem_seg.data[0]
        assert image.shape == (3, 48, 48) and image.dtype == torch.float32
        padded = (image == torch.tensor(PIXEL_MEAN[::-1]).view(3, 1, 1)).all(dim=0)  # BGR mean, exactly
        assert int((~padded).sum()) == real_pixels
        assert (labels[padded] == 255).all()
        assert padded[-1].all() == (factor < 1.5)  # bottom padded (a flip may move the right padding left)


def test_reference_augmentation_picks_one_of_the_scale_factors(tmp_path):
    dataset, _ = _training_dataset(tmp_path, TrainingPlan(crop_size=48, scale_factors=(0.5, 1.0)))
    counts = {
        int((~(s["inputs"] == torch.tensor(PIXEL_MEAN[::-1]).view(3, 1, 1)).all(dim=0)).sum())
        for s in (dataset[0] for _ in range(20))
    }
    assert counts == {16 * 20, 32 * 40}


def test_parameter_groups_backbone_1x_aspp_weights_10x_aspp_biases_20x_without_decay_bn_frozen():
    from mmengine.optim import build_optim_wrapper
    from mmseg.registry import MODELS

    settings = SegmenterSettings("deeplabv2", "resnet18", 3, ("a", "b"))
    config = training_config(
        settings,
        TrainingPlan(),
        image_dir="",
        image_suffix=".jpg",
        label_dir="",
        id_file="",
        work_dir="",
        device=torch.device("cpu"),
        workers=0,
    )
    register_modules()
    model = MODELS.build(config["model"])
    groups = build_optim_wrapper(model, config["optim_wrapper"]).optimizer.param_groups
    setting = {id(p): (g["lr"], g["weight_decay"]) for g in groups for p in g["params"]}
    names = dict(model.named_parameters())
    assert setting[id(names["backbone.layer1.0.conv1.weight"])] == pytest.approx((2.5e-4, 5e-4))
    assert setting[id(names["decode_head.aspp.0.weight"])] == pytest.approx((2.5e-3, 5e-4))
    assert setting[id(names["decode_head.aspp.3.bias"])] == pytest.approx((5e-3, 0.0))
    batchnorm = [name for name in names if ".bn" in name or "downsample.1" in name]
    assert batchnorm and not [name for name in batchnorm if id(names[name]) in setting]
    model.train()
    bn = model.backbone.layer1[0].bn1
    before = bn.running_mean.clone()
    model.extract_feat(torch.rand(2, 3, 32, 32))
    assert not bn.training and torch.equal(bn.running_mean, before)


@pytest.mark.parametrize(
    "native, amp, wrapper",
    [(True, True, "CPUAutocastOptimWrapper"), (True, False, "OptimWrapper"), (False, True, "OptimWrapper")],
)
def test_the_cpu_trains_the_segmenter_under_bf16_autocast_only_with_amp_and_native_bf16(
    native, amp, wrapper, monkeypatch
):
    from mmengine.optim import build_optim_wrapper

    import wsss.device

    monkeypatch.setattr(wsss.device, "cpu_has_native_bf16", lambda: native)
    settings = SegmenterSettings("deeplabv3plus", "resnet18", 3, ("a", "b"), freeze_bn=False, output_stride=16)
    config = optim_wrapper_config(settings, TrainingPlan(amp=amp), torch.device("cpu"))
    assert config["type"] == wrapper
    register_modules()
    model = build_model(settings, crop_size=32).train()
    built = build_optim_wrapper(model, config)
    with built.optim_context(model):
        logits = model._logits(torch.rand(2, 3, 32, 32))
    assert logits.dtype == (torch.bfloat16 if wrapper == "CPUAutocastOptimWrapper" else torch.float32)


class _ConstantLogits(torch.nn.Module):
    """Logits (0, c) everywhere, c set by the input's height: 0 at 16 px, 2 at 8 px (0.5), -1 at 12 px (0.75)."""

    def __init__(self):
        super().__init__()
        self.unused = torch.nn.Parameter(torch.zeros(1))
        self.data_preprocessor = SimpleNamespace(
            mean=torch.zeros(3, 1, 1), std=torch.ones(3, 1, 1), channel_conversion=True
        )

    def extract_feat(self, x):
        return x

    def decode_head(self, x):
        c = {16: 0.0, 8: 2.0, 12: -1.0}[x.shape[2]]
        return torch.stack([x[:, 0] * 0, x[:, 0] * 0 + c], dim=1)


@pytest.mark.parametrize("flip", [False, True])
def test_test_time_fusion_max_of_logits_or_mean_of_probabilities(flip):
    rgb = np.zeros((16, 16, 3), np.uint8)
    sigmoid = lambda v: 1 / (1 + math.exp(-v))  # noqa: E731  (p of class 1 for logits (0, v))
    as_max = predict_probabilities(_ConstantLogits(), rgb, [1.0, 0.5, 0.75], flip, "max")
    as_mean = predict_probabilities(_ConstantLogits(), rgb, [1.0, 0.5, 0.75], flip, "mean")
    assert torch.allclose(as_max[1], torch.full((16, 16), sigmoid(2.0)))
    assert torch.allclose(as_mean[1], torch.full((16, 16), (sigmoid(0) + sigmoid(2) + sigmoid(-1)) / 3))


def test_schema_defaults_are_the_reference_and_the_training_plan_defaults():
    segmenter = validate_config({})["segmenter"]
    plan = TrainingPlan()
    for key in ("loss", "loss_resolution", "augmentation", "head_lr_mult", "head_bias_lr_mult", "crop_size"):
        assert segmenter[key] == getattr(plan, key), key
    assert tuple(segmenter["msc_scales"]) == plan.msc_scales == (0.5, 0.75)
    assert tuple(segmenter["scale_factors"]) == plan.scale_factors == (0.5, 0.75, 1.0, 1.25, 1.5, 1.75, 2.0)
    assert (
        segmenter["freeze_bn"] is True and segmenter["head_bias_weight_decay"] is plan.head_bias_weight_decay is False
    )
    eval_seg = validate_config({})["eval_seg"]
    assert (eval_seg["fusion"], eval_seg["flip"], eval_seg["crf"], eval_seg["headline"]) == ("max", False, True, "crf")


@pytest.mark.parametrize("name", ["voc12", "coco14"])
def test_voc_and_coco_select_the_reference_deeplabv2_explicitly(name):
    import yaml

    written = yaml.safe_load(open(f"configs/{name}.yaml"))
    defaults = validate_config({})
    for section, keys in {
        "segmenter": ["freeze_bn", "loss", "msc_scales", "loss_resolution", "augmentation", "scale_factors"]
        + ["head_lr_mult", "head_bias_lr_mult", "head_bias_weight_decay"],
        "eval_seg": ["scales", "fusion", "flip", "crf", "headline"],
    }.items():
        for key in keys:
            assert written[section][key] == defaults[section][key], f"{section}.{key}"
    demo = load_config("configs/demo.yaml")
    assert (demo["segmenter"]["augmentation"], demo["segmenter"]["msc_scales"]) == ("mmseg", [])
    assert (demo["eval_seg"]["fusion"], demo["eval_seg"]["headline"]) == ("mean", "multi_scale")
