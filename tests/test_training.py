"""The reference's SGD (momentum in the weight-decay slot) and its poly schedule, checked by hand."""

import pytest
import torch

from wsss.training import ResumableRun, finish_training, make_optimizer, set_poly_lr, train_epochs

LR, WEIGHT_DECAY, SLOPE = 0.1, 0.5, 2.0  # loss = SLOPE * w, so the gradient is SLOPE at any w


def two_sgd_steps(momentum: float) -> float:
    """w after two constant-lr steps of make_optimizer's SGD on loss = SLOPE * w from w = 1."""
    weight = torch.nn.Parameter(torch.tensor([1.0]))
    optimizer = make_optimizer("sgd", [{"params": [weight], "lr": LR}], WEIGHT_DECAY, momentum)
    for _ in range(2):
        optimizer.zero_grad()
        (SLOPE * weight).sum().backward()
        optimizer.step()
    return weight.item()


@pytest.mark.parametrize(
    "momentum, expected",
    [
        # step 1: d = 2 + 0.5 * 1 = 2.5, buffer 2.5, w = 1 - 0.1 * 2.5 = 0.75
        # step 2: d = 2 + 0.5 * 0.75 = 2.375, buffer = m * 2.5 + 2.375, w = 0.75 - 0.1 * buffer
        (1e-4, 0.75 - 0.1 * (1e-4 * 2.5 + 2.375)),  # 0.512475, the reference's
        (0.9, 0.75 - 0.1 * (0.9 * 2.5 + 2.375)),  # 0.2875, usual SGD
    ],
)
def test_two_sgd_steps_by_hand(momentum, expected):
    assert two_sgd_steps(momentum) == pytest.approx(expected, abs=1e-6)


def test_momentum_equal_to_weight_decay_is_the_reference_optimizer():
    """SGD given (params, lr, weight_decay) positionally, weight decay set per group, as the reference builds it."""
    weight = torch.nn.Parameter(torch.tensor([1.0]))
    reference = torch.optim.SGD([{"params": [weight], "weight_decay": WEIGHT_DECAY}], LR, WEIGHT_DECAY)
    assert reference.param_groups[0]["momentum"] == WEIGHT_DECAY
    for _ in range(2):
        reference.zero_grad()
        (SLOPE * weight).sum().backward()
        reference.step()
    assert two_sgd_steps(momentum=WEIGHT_DECAY) == pytest.approx(weight.item(), abs=1e-7)


def steps_on_fixed_gradients(build, steps: int = 3) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
    """Parameters (a matrix and a vector in two groups of their own lr) before and after ``steps``
    steps of the optimizer ``build(groups)`` makes, on the same start values and seeded gradients."""
    generator = torch.Generator().manual_seed(0)
    params = [torch.nn.Parameter(torch.randn(shape, generator=generator)) for shape in ((4, 3), (3,))]
    gradients = [[torch.randn(p.shape, generator=generator) for p in params] for _ in range(steps)]
    start = [p.detach().clone() for p in params]
    optimizer = build([{"params": [params[0]], "lr": LR}, {"params": [params[1]], "lr": LR / 10}])
    for step in gradients:
        for param, gradient in zip(params, step):
            param.grad = gradient.clone()
        optimizer.step()
    return start, [p.detach().clone() for p in params]


def test_adam_ignores_momentum():
    """make_optimizer's Adam with momentum 0.0 or 0.9 takes the very same steps, and they are torch's Adam's."""
    optimizer = make_optimizer("adam", [{"params": [torch.nn.Parameter(torch.zeros(1))], "lr": LR}], 0.0, 0.9)
    assert isinstance(optimizer, torch.optim.Adam)
    start, without = steps_on_fixed_gradients(lambda groups: make_optimizer("adam", groups, 0.01, 0.0))
    _, with_momentum = steps_on_fixed_gradients(lambda groups: make_optimizer("adam", groups, 0.01, 0.9))
    for before, a, b in zip(start, without, with_momentum):
        assert not torch.equal(a, before)  # the steps moved every parameter
        assert torch.equal(a, b)
    _, adam = steps_on_fixed_gradients(lambda groups: torch.optim.Adam(groups, weight_decay=0.01))
    for ours, torchs in zip(without, adam):
        torch.testing.assert_close(ours, torchs)
    # The same comparison tells momentum apart where it acts: make_optimizer's SGD.
    _, sgd = steps_on_fixed_gradients(lambda groups: make_optimizer("sgd", groups, 0.01, 0.0))
    _, sgd_momentum = steps_on_fixed_gradients(lambda groups: make_optimizer("sgd", groups, 0.01, 0.9))
    assert not torch.equal(sgd[0], sgd_momentum[0])


def test_poly_schedule_values():
    optimizer = make_optimizer("sgd", [{"params": [torch.nn.Parameter(torch.zeros(1))], "lr": 2.0}], 0.0, 1e-4)
    rates = []
    for step in range(4):
        set_poly_lr(optimizer, step, 4)
        rates.append(optimizer.param_groups[0]["lr"])
    assert rates == pytest.approx([2.0, 2.0 * 0.75**0.9, 2.0 * 0.5**0.9, 2.0 * 0.25**0.9])
    assert optimizer.param_groups[0]["initial_lr"] == 2.0


def test_training_loop_takes_its_first_step_at_the_full_rate_and_decays_per_step(tmp_path):
    """Two epochs of two batches: max_step 4, lr = lr0 * (1 - step / 4) ** 0.9 before steps 0..3."""
    weight = torch.nn.Parameter(torch.zeros(1))
    optimizer = make_optimizer("sgd", [{"params": [weight], "lr": 1.0}, {"params": [], "lr": 10.0}], 1e-4, 1e-4)
    loader = torch.utils.data.DataLoader(torch.ones(4, 1), batch_size=2)
    seen = []

    def batch_loss(batch):
        seen.append([group["lr"] for group in optimizer.param_groups])
        return (weight * batch).sum(), {}

    model = torch.nn.Module()
    model.weight = weight
    train_epochs(model, optimizer, loader, 2, ResumableRun(tmp_path, {}), batch_loss)
    factors = [(1 - step / 4) ** 0.9 for step in range(4)]
    assert seen == [pytest.approx([f, 10 * f]) for f in factors]


def test_history_holds_each_epochs_seconds_so_the_warm_up_can_be_told_apart(tmp_path, monkeypatch):
    """A slow first epoch (worker start, cuDNN's search) shows in epoch_seconds, and the total is their sum."""
    import json
    import time

    weight = torch.nn.Parameter(torch.zeros(1))
    optimizer = make_optimizer("sgd", [{"params": [weight], "lr": 0.1}], 0.0, 0.0)
    loader = torch.utils.data.DataLoader(torch.ones(4, 1), batch_size=2)
    calls = []

    def batch_loss(batch):
        calls.append(None)
        if len(calls) == 1:
            time.sleep(0.3)
        return (weight * batch).sum(), {}

    model = torch.nn.Linear(1, 1)
    run = ResumableRun(tmp_path / "resume", {})
    records, first_epoch, epoch_seconds = train_epochs(model, optimizer, loader, 3, run, batch_loss)
    assert first_epoch == 0 and len(records) == len(epoch_seconds) == 3
    assert epoch_seconds[0] >= 0.3 > max(epoch_seconds[1:])
    history = tmp_path / "history.json"
    finish_training(
        run, str(tmp_path / "model.pt"), model, {}, str(history), records, 12, epoch_seconds, torch.device("cpu")
    )
    written = json.loads(history.read_text())
    assert written["images"] == 12 and written["epoch_seconds"] == [round(s, 2) for s in epoch_seconds]
    assert written["seconds"] == round(sum(epoch_seconds), 1)


def test_loss_curve_averages_windows_and_keeps_the_last_iteration():
    from wsss.training import loss_curve

    curve = loss_curve([4.0, 2.0, 3.0, 1.0, 5.0], first_iteration=11, points=2)
    assert curve == [{"iteration": 13, "loss": 3.0}, {"iteration": 15, "loss": 3.0}]
    assert len(loss_curve(list(range(1000)))) == 100 and loss_curve([]) == []


def _linear_and_sgd(lr: float = 0.1) -> tuple[torch.nn.Module, torch.optim.Optimizer]:
    model = torch.nn.Linear(2, 2)
    return model, torch.optim.SGD(model.parameters(), lr=lr)


def test_resume_state_is_ignored_when_an_input_file_changed_content(tmp_path, caplog):
    """train_clims killed after epoch 1, the baseline retrained (same path, new bytes): it starts afresh."""
    baseline = tmp_path / "baseline_cam.pt"
    baseline.write_bytes(b"baseline trained at lr 0.1")
    model, optimizer = _linear_and_sgd()
    ResumableRun(tmp_path / "clims.pt.resume", {"lr": 0.1}, {"baseline": str(baseline)}).save(model, optimizer, 1)
    same = ResumableRun(tmp_path / "clims.pt.resume", {"lr": 0.1}, {"baseline": str(baseline)})
    assert same.load(*_linear_and_sgd()) == 1
    baseline.write_bytes(b"baseline trained at lr 0.2")
    caplog.set_level("INFO", logger="wsss.training")
    changed = ResumableRun(tmp_path / "clims.pt.resume", {"lr": 0.1}, {"baseline": str(baseline)})
    assert changed.load(*_linear_and_sgd()) == 0
    assert "training starts afresh: left by a run with other inputs baseline" in caplog.text
    other_lr = ResumableRun(tmp_path / "clims.pt.resume", {"lr": 0.2}, {"baseline": str(baseline)})
    assert other_lr.load(*_linear_and_sgd()) == 0
    assert "other settings lr, inputs baseline" in caplog.text


def test_folder_fingerprint_follows_names_sizes_and_mtimes(tmp_path):
    from wsss.checkpoints import content_fingerprint

    labels = tmp_path / "labels"
    labels.mkdir()
    (labels / "a.png").write_bytes(b"1")
    before = content_fingerprint(labels)
    assert before.startswith("files:") and content_fingerprint(labels) == before
    (labels / "b.png").write_bytes(b"2")
    assert content_fingerprint(labels) != before
    assert content_fingerprint(None) is None and content_fingerprint("ViT-B/16") == "ViT-B/16"


def test_damaged_resume_state_is_set_aside_and_the_folder_goes_after_success(tmp_path, caplog):
    folder = tmp_path / "baseline_cam.pt.resume"
    model, optimizer = _linear_and_sgd()
    run = ResumableRun(folder, {})
    run.save(model, optimizer, 2)
    state = folder / "last.pt"
    state.write_bytes(state.read_bytes()[:100])  # killed while the disk filled up, say
    assert run.load(*_linear_and_sgd()) == 0
    assert "last.pt: unreadable resume state" in caplog.text and (folder / "last.pt.rejected").is_file()
    run.save(model, optimizer, 1)
    run.finish()
    assert sorted(p.name for p in folder.iterdir()) == ["last.pt.rejected"]  # kept to be looked at
    (folder / "last.pt.rejected").unlink()
    run.save(model, optimizer, 1)
    run.finish()
    assert not folder.exists()  # no empty <checkpoint>.resume/ left behind a finished stage
