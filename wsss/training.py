"""Plain training helpers shared by the training stages: schedules, optimisers, resumable checkpoints."""

from __future__ import annotations

import contextlib
import json
import logging
import os
import random
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import torch

from wsss import distributed, launch
from wsss.checkpoints import content_fingerprint, save_model, set_aside
from wsss.io import atomic_path, write_json
from wsss.optimizers import ChannelsLastAdam
from wsss.progress import Progress

log = logging.getLogger(__name__)


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch (CPU and CUDA)."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def poly_lr_factor(step: int, total_steps: int, power: float = 0.9) -> float:
    """(1 - step / total) ** power, the reference's learning-rate schedule."""
    return (1 - min(step, total_steps) / total_steps) ** power


def make_optimizer(kind: str, groups: list[dict], weight_decay: float, momentum: float) -> torch.optim.Optimizer:
    """SGD or Adam over parameter groups that each carry their own ``lr``; ``momentum`` is SGD's.

    The reference's SGD gets its weight decay in the momentum slot, so reproducing it takes
    ``momentum`` equal to the weight decay (1e-4, next to no momentum), not the usual 0.9.
    Adam ignores ``momentum``.
    """
    for group in groups:
        group["initial_lr"] = group["lr"]
    if kind == "sgd":
        return torch.optim.SGD(groups, momentum=momentum, weight_decay=weight_decay)
    if kind == "adam":
        return ChannelsLastAdam(groups, weight_decay=weight_decay, fused=True)  # one kernel for all tensors
    raise ValueError(f"unknown optimizer {kind!r} (sgd or adam)")


def set_poly_lr(optimizer: torch.optim.Optimizer, step: int, total_steps: int) -> None:
    """Scale every group's initial learning rate by the poly factor."""
    factor = poly_lr_factor(step, total_steps)
    for group in optimizer.param_groups:
        group["lr"] = group["initial_lr"] * factor


class ResumableRun:
    """Keeps ``<folder>/last.pt`` (model, optimiser, epoch) so an interrupted run continues where it stopped.

    The state records the run's settings (``settings``, any JSON-able dict) and the content of its
    input files (``inputs``, name -> path, see :func:`content_fingerprint`); a state left by a run
    with other settings or inputs (a retrained baseline, say) is ignored, so a changed config or
    upstream result never resumes training built on the old one. A damaged state is set aside.
    """

    def __init__(self, folder: str | os.PathLike, settings: dict, inputs: dict[str, str | None] | None = None):
        self.path = Path(folder) / "last.pt"
        self.key = {
            "settings": json.loads(json.dumps(settings, default=str)),
            "inputs": {name: content_fingerprint(path) for name, path in (inputs or {}).items()},
        }
        self.fingerprint = json.dumps(self.key, sort_keys=True)

    def load(self, model: torch.nn.Module, optimizer: torch.optim.Optimizer) -> int:
        """Restore the last state if there is one from the same settings and inputs; return the finished epochs."""
        if not self.path.is_file():
            return 0
        try:
            state = torch.load(self.path, map_location="cpu", weights_only=True)
        except Exception as exc:  # truncated by a kill, or not ours: never a dead end
            set_aside(self.path, f"unreadable resume state ({type(exc).__name__}), training starts afresh")
            return 0
        if state.get("fingerprint") != self.fingerprint:
            log.warning("ignoring %s, training starts afresh: left by a run with %s", self.path, self._changes(state))
            return 0
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        log.info("resuming from %s after epoch %d", self.path, state["epoch"])
        return int(state["epoch"])

    def _changes(self, state: dict) -> str:
        """Which settings and inputs differ from the state's, for the log."""
        try:
            old = json.loads(state.get("fingerprint", "{}"))
        except (TypeError, json.JSONDecodeError):
            old = {}
        changed = [
            f"{part} {name}"
            for part in ("settings", "inputs")
            for name in sorted({*old.get(part, {}), *self.key[part]})
            if old.get(part, {}).get(name) != self.key[part].get(name)
        ]
        return "other " + ", ".join(changed) if changed else "another fingerprint"

    def save(self, model: torch.nn.Module, optimizer: torch.optim.Optimizer, epoch: int) -> None:
        with atomic_path(self.path) as tmp:
            torch.save(
                {
                    "model": model.state_dict(),
                    "optimizer": optimizer.state_dict(),
                    "epoch": epoch,
                    "fingerprint": self.fingerprint,
                },
                tmp,
            )

    def finish(self) -> None:
        """Remove the resume state, and its folder unless set-aside files are kept there, once the final
        checkpoint is written."""
        self.path.unlink(missing_ok=True)
        with contextlib.suppress(OSError):
            self.path.parent.rmdir()


def train_epochs(
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    loader: torch.utils.data.DataLoader,
    epochs: int,
    run: ResumableRun,
    batch_loss: Callable[[dict], tuple[torch.Tensor, dict[str, float]]],
) -> tuple[list[dict], int, list[float]]:
    """The shared epoch loop: poly LR per step, resume from ``run``, a resume state after every epoch.

    ``batch_loss(batch)`` returns the loss to minimise and named float terms to average per
    epoch (and, under several processes, over the processes; only rank 0 saves the state).
    Returns the per-epoch records, the epoch it started from and each epoch's seconds (the first
    holds the warm-up: worker start, cuDNN's algorithm search).
    """
    total_steps = epochs * len(loader)
    first_epoch = run.load(model, optimizer)
    records, epoch_seconds, start = [], [], time.perf_counter()
    images_per_step = (loader.batch_size or 1) * launch.world_size()
    progress = Progress((epochs - first_epoch) * len(loader) * images_per_step, f"training ({epochs} epochs)")
    for epoch in range(first_epoch, epochs):
        if hasattr(loader.dataset, "epoch"):
            loader.dataset.epoch = epoch  # a new augmentation draw each epoch
        if hasattr(loader.sampler, "set_epoch"):
            loader.sampler.set_epoch(epoch)  # and a new order
        model.train()
        sums: dict[str, float] = {}
        for step, batch in enumerate(loader):
            set_poly_lr(optimizer, epoch * len(loader) + step, total_steps)
            loss, terms = batch_loss(batch)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            progress.advance(images_per_step)
            for name, value in {"loss": loss.item(), **terms}.items():
                sums[name] = sums.get(name, 0.0) + value
        sums = distributed.average(sums)
        records.append({name: round(value / len(loader), 5) for name, value in sums.items()})
        log.info("epoch %d/%d %s (%.0f s)", epoch + 1, epochs, records[-1], time.perf_counter() - start)
        if launch.is_main():
            run.save(model, optimizer, epoch + 1)
        epoch_seconds.append(time.perf_counter() - start - sum(epoch_seconds))
    return records, first_epoch, epoch_seconds


def finish_training(
    run: ResumableRun,
    checkpoint: str,
    model: torch.nn.Module,
    meta: dict,
    history: str,
    epochs: list[dict],
    images: int,
    epoch_seconds: list[float],
    device: torch.device,
) -> float:
    """Save the final model, drop the resume state, write the history JSON (rank 0 only); return images/s."""
    seconds = sum(epoch_seconds)
    rate = images / max(seconds, 1e-9)
    if not launch.is_main():
        return rate
    save_model(checkpoint, model, meta)
    run.finish()
    write_json(
        history,
        {
            "epochs": epochs,
            "images": images,
            "seconds": round(seconds, 1),
            "epoch_seconds": [round(value, 2) for value in epoch_seconds],
            "images_per_second": round(rate, 1),
            "device": str(device),
            "processes": launch.world_size(),
        },
    )
    return rate


def loss_curve(losses: Sequence[float], first_iteration: int = 1, points: int = 100) -> list[dict]:
    """At most ``points`` entries {iteration, loss}: the mean loss over consecutive windows, for plots."""
    window = max(1, -(-len(losses) // points))
    return [
        {
            "iteration": first_iteration + start + len(losses[start : start + window]) - 1,
            "loss": round(float(np.mean(losses[start : start + window])), 5),
        }
        for start in range(0, len(losses), window)
    ]
