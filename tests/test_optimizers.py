"""Adam and AdamW through NHWC views: the same bytes as torch's, their state interchangeable, no copies."""

import pytest
import torch
from mmengine.optim import build_optim_wrapper

from wsss.models.segmenter import SegmenterSettings, TrainingPlan, build_model, optim_wrapper_config, register_modules
from wsss.optimizers import ChannelsLastAdam, ChannelsLastAdamW, is_channels_last_only

PLAIN = {ChannelsLastAdam: torch.optim.Adam, ChannelsLastAdamW: torch.optim.AdamW}


def channels_last_net(seed: int = 0) -> torch.nn.Module:
    """3x3, depthwise and 1x1 convolutions and a linear layer, channels-last as the training stages keep them."""
    torch.manual_seed(seed)
    net = torch.nn.Sequential(
        torch.nn.Conv2d(3, 8, 3),
        torch.nn.Conv2d(8, 8, 3, groups=8, bias=False),
        torch.nn.Conv2d(8, 5, 1),
        torch.nn.Flatten(),
        torch.nn.LazyLinear(4),
    )
    net(torch.rand(1, 3, 9, 9))  # materialise the linear layer
    return net.to(memory_format=torch.channels_last)


def step(net: torch.nn.Module, optimizer: torch.optim.Optimizer, steps: int, seed: int) -> None:
    """``steps`` optimiser steps on the net's loss for random inputs (gradients in the weights' layout)."""
    generator = torch.Generator().manual_seed(seed)
    for _ in range(steps):
        images = torch.rand(2, 3, 9, 9, generator=generator).contiguous(memory_format=torch.channels_last)
        optimizer.zero_grad(set_to_none=True)
        net(images).square().sum().backward()
        optimizer.step()


def groups(net: torch.nn.Module) -> list[dict]:
    """One group per parameter, as mmengine's paramwise options build them, with different learning rates."""
    return [{"params": [p], "lr": 1e-2 * (i + 1)} for i, p in enumerate(net.parameters())]


@pytest.mark.parametrize("amsgrad", [False, True])
@pytest.mark.parametrize("kind", [ChannelsLastAdam, ChannelsLastAdamW])
def test_same_weights_and_state_as_torchs_fused_optimizer(kind, amsgrad):
    ours, theirs = channels_last_net(), channels_last_net()
    # Only the 3x3 weight: with one input channel or one kernel element, both orders are contiguous.
    assert [is_channels_last_only(p) for p in ours.parameters()] == [True] + [False] * 6
    our_optimizer = kind(groups(ours), weight_decay=1e-2, amsgrad=amsgrad, fused=True)
    their_optimizer = PLAIN[kind](groups(theirs), weight_decay=1e-2, amsgrad=amsgrad, fused=True)
    step(ours, our_optimizer, 5, seed=1)
    step(theirs, their_optimizer, 5, seed=1)
    for mine, reference in zip(ours.parameters(), theirs.parameters(), strict=True):
        assert torch.equal(mine, reference) and mine.stride() == reference.stride()
        assert mine.grad.stride() == reference.grad.stride()
    our_state, their_state = our_optimizer.state_dict()["state"], their_optimizer.state_dict()["state"]
    assert our_state.keys() == their_state.keys() and len(our_state) == 7
    for index, entries in our_state.items():
        assert entries.keys() == their_state[index].keys()
        for name, value in entries.items():
            assert torch.equal(value, their_state[index][name]) and value.stride() == their_state[index][name].stride()


def test_resuming_from_either_optimizers_state_continues_bit_for_bit():
    straight = channels_last_net()
    step(straight, ChannelsLastAdamW(groups(straight), fused=True), 6, seed=2)
    for first_kind in (ChannelsLastAdamW, torch.optim.AdamW):
        interrupted = channels_last_net()
        first = first_kind(groups(interrupted), fused=True)
        step(interrupted, first, 3, seed=2)
        saved_weights, saved_state = interrupted.state_dict(), first.state_dict()
        resumed = channels_last_net(seed=5)  # other initial weights, replaced by the saved ones
        resumed.load_state_dict(saved_weights)
        second = ChannelsLastAdamW(groups(resumed), fused=True)
        second.load_state_dict(saved_state)
        # The last three steps see the inputs the straight run drew for steps 4-6.
        generator = torch.Generator().manual_seed(2)
        for _ in range(3):
            torch.rand(2, 3, 9, 9, generator=generator)
        for _ in range(3):
            images = torch.rand(2, 3, 9, 9, generator=generator).contiguous(memory_format=torch.channels_last)
            second.zero_grad(set_to_none=True)
            resumed(images).square().sum().backward()
            second.step()
        for mine, reference in zip(resumed.parameters(), straight.parameters(), strict=True):
            assert torch.equal(mine, reference), first_kind


def test_the_kernel_gets_contiguous_views_of_the_stored_tensors():
    net = channels_last_net()
    optimizer = ChannelsLastAdam(net.parameters(), fused=True, amsgrad=True)
    net(torch.rand(2, 3, 9, 9)).sum().backward()
    lists = [[] for _ in range(6)]
    optimizer._init_group(optimizer.param_groups[0], *lists)
    params, grads, exp_avgs, exp_avg_sqs, max_exp_avg_sqs, _ = lists
    for tensors in (params, grads, exp_avgs, exp_avg_sqs, max_exp_avg_sqs):
        assert len(tensors) == 7 and all(t.is_contiguous() for t in tensors)
    weight = net[0].weight
    assert params[0].shape == (8, 3, 3, 3) and params[0].data_ptr() == weight.data_ptr()
    assert is_channels_last_only(weight) and is_channels_last_only(weight.grad)
    assert is_channels_last_only(optimizer.state[weight]["exp_avg"])  # the state keeps the weight's layout


def test_train_segs_adamw_is_the_channels_last_one():
    register_modules()
    settings = SegmenterSettings("deeplabv3plus", "resnet18", 3, ("cat", "dog"), output_stride=16)
    plan = TrainingPlan(iterations=1, batch_size=2, accumulation=1, crop_size=32, optimizer="adamw", lr=1e-3)
    model = build_model(settings, crop_size=32)
    wrapper = build_optim_wrapper(model, optim_wrapper_config(settings, plan, torch.device("cpu")))
    assert type(wrapper.optimizer) is ChannelsLastAdamW and wrapper.optimizer.defaults["fused"]
