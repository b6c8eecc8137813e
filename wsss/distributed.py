"""Data-parallel training on several devices: one process per device under torchrun, rank 0 writes.

A training stage given ``devices > 1`` re-executes itself under ``torch.distributed.run``
(:func:`wsss.launch.relaunch`, called by :func:`wsss.stage.run_stage`). Each process trains on its share of every
global batch (``batch_size / devices`` images, dealt by :class:`EpochShuffle`) and DDP averages the
gradients, so the steps, the learning-rate schedule and the images of each step are those of one
process with the whole batch. Losses normalised over a data-dependent count (CLIMS's pairs, IRN's
pixel pairs) or summed over the batch use :func:`mean_over_processes` / :func:`sum_over_processes`,
which make the averaged gradient that of the loss over the whole global batch.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator

import torch
import torch.distributed as dist

from wsss.launch import local_rank, rank, world_size
from wsss.layers import FixedBatchNorm2d


@contextlib.contextmanager
def process_group(devices: int) -> Iterator[None]:
    """Join the torchrun process group (NCCL on GPUs, gloo on CPUs) for the stage's duration.

    Nothing to do for one device. A count of processes other than ``devices`` is an error: the
    per-process batch would be wrong.
    """
    if devices != world_size():
        raise ValueError(
            f"devices is {devices} but {world_size()} processes run: start the stage with "
            f"torchrun --nproc-per-node={devices}, or without torchrun to let it launch itself"
        )
    if devices == 1:
        yield
        return
    if torch.cuda.is_available():
        torch.cuda.set_device(local_rank())
    dist.init_process_group("nccl" if torch.cuda.is_available() else "gloo")
    try:
        yield
    finally:
        dist.destroy_process_group()


def per_process_batch(batch_size: int) -> int:
    """The global ``batch_size`` split evenly over the processes; an error naming both when it cannot be."""
    if batch_size % world_size():
        raise ValueError(f"batch_size {batch_size} is not divisible by devices {world_size()}")
    return batch_size // world_size()


class EpochShuffle(torch.utils.data.Sampler[int]):
    """Each epoch's order: a permutation seeded by ``seed + epoch``, cut to whole global batches,
    dealt to the processes.

    Process r of W takes every W-th index from r, so step s's per-process batches together are
    the s-th block of ``global_batch`` indices of the permutation: the same global batches for any
    W, and the same order for an epoch whether or not the run was resumed. A dataset smaller than
    one global batch is one (smaller) batch.
    """

    def __init__(self, size: int, global_batch: int, seed: int):
        if size < world_size():
            raise ValueError(f"{size} training images cannot be shared by {world_size()} processes")
        self.size, self.seed, self.epoch = size, seed, 0
        self.kept = size // global_batch * global_batch if size > global_batch else size

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __iter__(self) -> Iterator[int]:
        order = torch.randperm(self.size, generator=torch.Generator().manual_seed(self.seed + self.epoch))
        return iter(order[: self.kept][rank() :: world_size()].tolist())

    def __len__(self) -> int:
        return len(range(rank(), self.kept, world_size()))


class _Method(torch.nn.Module):
    """Calls one method of ``module`` as its forward, so DDP (which hooks forward) can run it."""

    def __init__(self, module: torch.nn.Module, method: str):
        super().__init__()
        self.module, self.method = module, method

    def forward(self, *args, **kwargs):
        return getattr(self.module, self.method)(*args, **kwargs)


def sync_batchnorm(model: torch.nn.Module) -> torch.nn.Module:
    """BatchNorm layers that normalise with batch statistics become SyncBatchNorm (statistics over the
    whole global batch, as the reference on COCO); FixedBatchNorm2d (frozen statistics) stays.

    Parameters are kept (the same objects), so an optimiser built before still holds them.
    """
    for name, child in model.named_children():
        if isinstance(child, torch.nn.BatchNorm2d) and not isinstance(child, FixedBatchNorm2d):
            setattr(model, name, torch.nn.SyncBatchNorm.convert_sync_batchnorm(child))
        else:
            sync_batchnorm(child)
    return model


def parallel(model: torch.nn.Module, method: str, device: torch.device) -> Callable:
    """``model.<method>`` as the training step calls it: itself for one process, else through DDP
    (after :func:`sync_batchnorm` on GPUs; SyncBatchNorm has no CPU implementation, so on CPUs each
    process's BatchNorm sees its own share of the batch)."""
    if world_size() == 1:
        return getattr(model, method)
    if device.type == "cuda":
        sync_batchnorm(model)
    return torch.nn.parallel.DistributedDataParallel(
        _Method(model, method), device_ids=[device.index] if device.type == "cuda" else None
    )


def mean_over_processes(values: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
    """The mean of ``values`` (where ``mask``) over the whole global batch, as this process's part.

    One process: ``values.mean()`` (or the masked mean). W processes: W * (this process's sum) /
    (every process's count), so that DDP's average of the W parts, and of their gradients, is the
    mean over the global batch even when the processes' counts differ.
    """
    if mask is None:
        total, count = values.sum(), torch.tensor(float(values.numel()), device=values.device)
        if world_size() == 1:
            return values.mean()
    else:
        total, count = (values * mask).sum(), mask.sum().detach().float()
        if world_size() == 1:
            return total / count.clamp_min(1)
    count = count.clone()
    dist.all_reduce(count)
    return total * world_size() / count.clamp_min(1)


def sum_over_processes(total: torch.Tensor) -> torch.Tensor:
    """A sum over the batch as this process's part: W times its own sum, since DDP averages the parts."""
    return total * world_size()


def average(values: dict[str, float]) -> dict[str, float]:
    """Each value averaged over the processes (the same keys in each), for epoch records."""
    if world_size() == 1:
        return values
    names = sorted(values)
    device = torch.device("cuda", local_rank()) if dist.get_backend() == "nccl" else torch.device("cpu")
    tensor = torch.tensor([values[name] for name in names], dtype=torch.float64, device=device)
    dist.all_reduce(tensor)
    return {name: float(value) / world_size() for name, value in zip(names, tensor.tolist())}
