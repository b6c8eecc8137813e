"""Plain training helpers shared by the training stages: schedules, optimisers, resumable checkpoints."""

from __future__ import annotations

import json
import logging
import os
import random
from pathlib import Path

import numpy as np
import torch

from wsss.io import atomic_path, write_json

log = logging.getLogger(__name__)


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch (CPU and CUDA)."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def poly_lr_factor(step: int, total_steps: int, power: float = 0.9) -> float:
    """(1 - step / total) ** power, the reference's learning-rate schedule."""
    return (1 - min(step, total_steps) / total_steps) ** power


def make_optimizer(kind: str, groups: list[dict], weight_decay: float) -> torch.optim.Optimizer:
    """SGD (momentum 0.9) or Adam over parameter groups that each carry their own ``lr``."""
    for group in groups:
        group["initial_lr"] = group["lr"]
    if kind == "sgd":
        return torch.optim.SGD(groups, momentum=0.9, weight_decay=weight_decay)
    if kind == "adam":
        return torch.optim.Adam(groups, weight_decay=weight_decay)
    raise ValueError(f"unknown optimizer {kind!r} (sgd or adam)")


def set_poly_lr(optimizer: torch.optim.Optimizer, step: int, total_steps: int) -> None:
    """Scale every group's initial learning rate by the poly factor."""
    factor = poly_lr_factor(step, total_steps)
    for group in optimizer.param_groups:
        group["lr"] = group["initial_lr"] * factor


class ResumableRun:
    """Keeps ``<folder>/last.pt`` (model, optimiser, epoch) so an interrupted run continues where it stopped.

    The state records the run's settings (``settings``, any JSON-able dict); a state left by a run
    with other settings is ignored, so a changed config never resumes someone else's training.
    """

    def __init__(self, folder: str | os.PathLike, settings: dict):
        self.path = Path(folder) / "last.pt"
        self.fingerprint = json.dumps(settings, sort_keys=True, default=str)

    def load(self, model: torch.nn.Module, optimizer: torch.optim.Optimizer) -> int:
        """Restore the last state if there is one from the same settings; return the finished epochs."""
        if not self.path.is_file():
            return 0
        state = torch.load(self.path, map_location="cpu", weights_only=True)
        if state.get("fingerprint") != self.fingerprint:
            log.info("ignoring %s: it was left by a run with other settings", self.path)
            return 0
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        log.info("resuming from %s after epoch %d", self.path, state["epoch"])
        return int(state["epoch"])

    def save(self, model: torch.nn.Module, optimizer: torch.optim.Optimizer, epoch: int) -> None:
        with atomic_path(self.path) as tmp:
            torch.save({"model": model.state_dict(), "optimizer": optimizer.state_dict(), "epoch": epoch, "fingerprint": self.fingerprint}, tmp)

    def finish(self) -> None:
        """Remove the resume state once the final checkpoint is written."""
        self.path.unlink(missing_ok=True)


def save_model(path: str | os.PathLike, model: torch.nn.Module, meta: dict) -> None:
    """Save a state dict with a small metadata dict (plain types only: loads with weights_only=True)."""
    with atomic_path(path) as tmp:
        torch.save({"model": model.state_dict(), "meta": meta}, tmp)


def finish_training(
    run: ResumableRun, checkpoint: str, model: torch.nn.Module, meta: dict, history: str, epochs: list[dict], images: int, seconds: float, device: torch.device
) -> float:
    """Save the final model, drop the resume state, write the history JSON; return images/s."""
    save_model(checkpoint, model, meta)
    run.finish()
    rate = images / max(seconds, 1e-9)
    write_json(history, {"epochs": epochs, "seconds": round(seconds, 1), "images_per_second": round(rate, 1), "device": str(device)})
    return rate


def load_model_state(path: str | os.PathLike) -> dict:
    """Load what :func:`save_model` wrote."""
    return torch.load(path, map_location="cpu", weights_only=True)
