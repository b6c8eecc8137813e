"""CLIMS losses against hand-computed values, and gradients that reach the CAM network but not CLIP."""

import math

import pytest
import torch

from wsss.clims.losses import area_regularization, btm_loss, cbs_loss, clims_loss, otm_loss, positive_pairs
from wsss.models.clip_scorer import MatchScores


def test_otm_is_minus_mean_log_of_clamped_similarity():
    s = torch.tensor([0.5, 0.25, -0.3, 1.2], dtype=torch.float64)
    expected = -(math.log(0.5) + math.log(0.25) + math.log(1e-4) + math.log(0.9999)) / 4
    assert otm_loss(s).item() == pytest.approx(expected, rel=1e-6)


def test_btm_is_minus_mean_log_one_minus_clamped_similarity():
    s = torch.tensor([0.5, 0.25, -0.3, 1.2], dtype=torch.float64)
    expected = -(math.log(0.5) + math.log(0.75) + math.log(1 - 1e-4) + math.log(1 - 0.9999)) / 4
    assert btm_loss(s).item() == pytest.approx(expected, rel=1e-5)


def test_cbs_sums_only_similarities_above_the_threshold():
    s = torch.tensor([[0.1, 0.3, 0.26], [0.5, -0.2, 0.27]])
    expected = -(math.log(1 - 0.3) + math.log(1 - 0.5) + math.log(1 - 0.27))  # 0.26 itself is not above
    assert cbs_loss(s, 0.26).item() == pytest.approx(expected, rel=1e-6)
    assert cbs_loss(s, 0.9).item() == 0.0


def test_cbs_is_a_sum_not_a_mean():
    one = cbs_loss(torch.tensor([[0.5]]), 0.26)
    many = cbs_loss(torch.tensor([[0.5, 0.5], [0.5, 0.5]]), 0.26)
    assert many.item() == pytest.approx(4 * one.item())


def test_reg_is_the_mean_over_all_classes_and_pixels():
    p = torch.zeros(2, 3, 4, 4)
    p[0, 1] = 1.0  # one whole map of six is on
    assert area_regularization(p).item() == pytest.approx(1 / 6)


def test_weighted_sum_and_logged_terms():
    scores = MatchScores(torch.tensor([0.5]), torch.tensor([0.25]), torch.tensor([[0.5, 0.1]]))
    p = torch.full((1, 2, 2, 2), 0.5)
    total, terms = clims_loss(scores, p, alpha=10, beta=24, gamma=1, delta=0.2, cbs_threshold=0.26)
    expected = 10 * -math.log(0.5) + 24 * -math.log(0.75) + 1 * -math.log(0.5) + 0.2 * 0.5
    assert total.item() == pytest.approx(expected, rel=1e-6)
    assert terms == pytest.approx({"otm": -math.log(0.5), "btm": -math.log(0.75), "cbs": -math.log(0.5), "reg": 0.5})


def test_gradients_reach_the_cam_network_and_not_clip(tiny_clip_checkpoint):
    from wsss.data.training_data import normalize_imagenet
    from wsss.models.cam_net import CAMNet
    from wsss.models.clip_scorer import ClipScorer, load_clip

    torch.manual_seed(0)
    scorer = ClipScorer(
        load_clip(str(tiny_clip_checkpoint)), ["a photo of boat.", "a photo of car."], ["a photo of water."]
    )
    model = CAMNet(2, "resnet18", 16)
    images = torch.rand(3, 3, 64, 64)
    labels = torch.tensor([[1.0, 0.0], [1.0, 1.0], [0.0, 1.0]])
    probabilities = model.probabilities(normalize_imagenet(images))
    image_index, class_index = positive_pairs(labels)
    assert image_index.tolist() == [0, 1, 1, 2] and class_index.tolist() == [0, 0, 1, 1]
    scores = scorer.score(images[image_index], probabilities[image_index, class_index].unsqueeze(1), class_index)
    loss, _ = clims_loss(scores, probabilities, alpha=10, beta=24, gamma=1, delta=0.2, cbs_threshold=-1.0)
    loss.backward()
    assert model.classifier.weight.grad.abs().sum() > 0
    assert model.backbone.layer1[0].conv1.weight.grad.abs().sum() > 0
    assert all(p.grad is None for p in scorer.model.parameters())


def test_empty_pair_means_cost_nothing_instead_of_nan():
    empty = torch.zeros(0, requires_grad=True)
    for loss in (otm_loss(empty), btm_loss(empty), cbs_loss(torch.zeros(0, 3, requires_grad=True), 0.26)):
        assert loss.item() == 0.0 and loss.requires_grad


@pytest.mark.parametrize("labels", [[[0.0, 0.0], [1.0, 0.0]], [[0.0, 0.0], [0.0, 0.0]]])
def test_images_with_no_class_add_no_pair_and_the_loss_stays_finite(tiny_clip_checkpoint, labels):
    """An image with no class (COCO's unannotated images) adds no pair; a batch of only such images
    is trained by REG alone (0.2 * mean P), with finite gradients."""
    from wsss.data.training_data import normalize_imagenet
    from wsss.models.cam_net import CAMNet
    from wsss.models.clip_scorer import ClipScorer, load_clip

    torch.manual_seed(0)
    scorer = ClipScorer(
        load_clip(str(tiny_clip_checkpoint)), ["a photo of boat.", "a photo of car."], ["a photo of water."]
    )
    model = CAMNet(2, "resnet18", 16)
    images = torch.rand(2, 3, 64, 64)
    probabilities = model.probabilities(normalize_imagenet(images))
    image_index, class_index = positive_pairs(torch.tensor(labels))
    assert len(image_index) == int(torch.tensor(labels).sum())
    scores = scorer.score(images[image_index], probabilities[image_index, class_index].unsqueeze(1), class_index)
    loss, terms = clims_loss(scores, probabilities, alpha=2, beta=14, gamma=1.25, delta=0.2, cbs_threshold=-1.0)
    assert torch.isfinite(loss) and all(math.isfinite(v) for v in terms.values())
    if not image_index.numel():
        assert terms["otm"] == terms["btm"] == terms["cbs"] == 0.0
        assert loss.item() == pytest.approx(0.2 * probabilities.mean().item())
    loss.backward()
    grad = model.classifier.weight.grad
    assert torch.isfinite(grad).all() and grad.abs().sum() > 0


def test_logit_offset_darkens_clims_maps_but_not_the_cams():
    from wsss.models.cam_net import CAMNet

    torch.manual_seed(0)
    model = CAMNet(2, "resnet18", 16).eval()
    images = torch.rand(1, 3, 64, 64)
    with torch.no_grad():
        responses = model.class_maps(images)
        assert torch.allclose(model.probabilities(images), torch.sigmoid(responses))
        darker = model.probabilities(images, logit_offset=-3.0)
        assert torch.allclose(darker, torch.sigmoid(responses - 3.0))
        assert (darker < model.probabilities(images)).all()
        assert torch.equal(model.cams(images), torch.relu(responses))


def test_resume_state_is_used_only_by_a_run_with_the_same_settings(tmp_path):
    from wsss.training import ResumableRun

    model = torch.nn.Linear(2, 2)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    ResumableRun(tmp_path, {"lr": 0.1}).save(model, optimizer, epoch=3)
    fresh = torch.nn.Linear(2, 2)
    assert ResumableRun(tmp_path, {"lr": 0.2}).load(fresh, torch.optim.SGD(fresh.parameters(), lr=0.2)) == 0
    assert not torch.equal(fresh.weight, model.weight)
    run = ResumableRun(tmp_path, {"lr": 0.1})
    assert run.load(fresh, torch.optim.SGD(fresh.parameters(), lr=0.1)) == 3
    assert torch.equal(fresh.weight, model.weight)
    run.finish()
    assert not (tmp_path / "last.pt").exists()
