"""BatchNorm as the reference trains it: fixed statistics in the baseline, batch statistics in CLIMS."""

import torch

from wsss.clims.losses import multilabel_soft_margin_loss
from wsss.layers import FixedBatchNorm2d
from wsss.models.cam_net import CAMNet
from wsss.training import make_optimizer


def test_fixed_batchnorm_normalises_with_running_statistics_in_train_mode():
    bn = FixedBatchNorm2d(1, eps=0.0)
    with torch.no_grad():
        bn.running_mean.fill_(2.0)
        bn.running_var.fill_(4.0)
        bn.weight.fill_(3.0)
        bn.bias.fill_(1.0)
    bn.train()
    out = bn(torch.tensor([4.0, 6.0]).view(1, 1, 1, 2))
    # (x - 2) / sqrt(4) * 3 + 1
    assert out.flatten().tolist() == [4.0, 7.0]
    out.sum().backward()
    assert bn.weight.grad.item() == 1.0 + 2.0 and bn.bias.grad.item() == 2.0
    assert bn.running_mean.item() == 2.0 and bn.running_var.item() == 4.0 and bn.num_batches_tracked.item() == 0


def batchnorms(model: CAMNet) -> dict[str, torch.nn.BatchNorm2d]:
    return {name: m for name, m in model.backbone.named_modules() if isinstance(m, torch.nn.BatchNorm2d)}


def snapshot(model: CAMNet) -> dict[str, torch.Tensor]:
    return {name: value.detach().clone() for name, value in model.state_dict().items()}


def one_training_step(model: CAMNet) -> tuple[dict, dict]:
    """The stages' set-up (stem frozen, two groups, reference SGD) and one step; state before and after."""
    torch.manual_seed(0)
    model.backbone.freeze_stem()
    backbone, head = model.parameter_groups()
    optimizer = make_optimizer("sgd", [{"params": backbone, "lr": 0.1}, {"params": head, "lr": 1.0}], 1e-4, 1e-4)
    before = snapshot(model)
    model.train()
    images, labels = torch.randn(2, 3, 32, 32), torch.tensor([[1.0, 0.0], [1.0, 1.0]])
    multilabel_soft_margin_loss(model.logits(images), labels).backward()
    optimizer.step()
    return before, snapshot(model)


def test_baseline_keeps_statistics_and_trains_the_affine_weights_but_not_the_stem():
    torch.manual_seed(0)
    model = CAMNet(2, "resnet18", fixed_batchnorm=True)
    before, after = one_training_step(model)
    for name in batchnorms(model):
        for buffer in ("running_mean", "running_var", "num_batches_tracked"):
            key = f"backbone.{name}.{buffer}"
            assert torch.equal(before[key], after[key]), key
        key = f"backbone.{name}.weight"
        assert torch.equal(before[key], after[key]) == name.startswith("stem"), key
    assert torch.equal(before["backbone.stem.0.weight"], after["backbone.stem.0.weight"])
    images = torch.randn(1, 3, 32, 32)
    with torch.no_grad():
        in_train_mode = model.train().logits(images)
        torch.testing.assert_close(in_train_mode, model.eval().logits(images))
    CAMNet(2, "resnet18").load_state_dict(model.state_dict())  # CLIMS starts from it with plain BatchNorm


def test_clims_network_uses_and_updates_batch_statistics_with_the_stem_frozen():
    torch.manual_seed(0)
    model = CAMNet(2, "resnet18")
    before, after = one_training_step(model)
    for name in batchnorms(model):
        key = f"backbone.{name}.running_mean"
        assert not torch.equal(before[key], after[key]), key  # the stem's bn1 too, as in the reference
    assert torch.equal(before["backbone.stem.1.weight"], after["backbone.stem.1.weight"])
    assert torch.equal(before["backbone.stem.0.weight"], after["backbone.stem.0.weight"])
    assert not torch.equal(before["backbone.layer1.0.bn1.weight"], after["backbone.layer1.0.bn1.weight"])
