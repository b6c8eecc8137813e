"""Seconds per training step of the demo's CAM network and segmenter on the CPU, by memory layout and dtype.

Each variant trains the same network (random init, SGD, a fixed random batch) for a few warm-up
steps and then times ``--steps`` steps, three times; it prints the median and the spread.

    python bench/bench_cpu_training.py --threads 2
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from wsss.device import autocast, channels_last
from wsss.models.cam_net import CAMNet

CPU = torch.device("cpu")


def cam_step(model: torch.nn.Module, images: torch.Tensor, targets: torch.Tensor, bf16: bool) -> None:
    with autocast(CPU, torch.bfloat16 if bf16 else None):
        logits = model.logits(images)
    loss = torch.nn.functional.multilabel_soft_margin_loss(logits.float(), targets)
    loss.backward()


def time_variant(last: bool, bf16: bool, batch: int, size: int, steps: int) -> list[float]:
    """Seconds per step of each of three rounds; ``last``: channels-last model and batch."""
    torch.manual_seed(0)
    model = CAMNet(6, "resnet18", 16)
    images = torch.randn(batch, 3, size, size)
    if last:
        model, images = channels_last(model), channels_last(images)
    targets = (torch.rand(batch, 6) > 0.7).float()
    optimizer = torch.optim.SGD(model.parameters(), lr=1e-3)
    model.train()
    for _ in range(2):
        cam_step(model, images, targets, bf16)
        optimizer.step()
        optimizer.zero_grad()
    rounds = []
    for _ in range(3):
        start = time.perf_counter()
        for _ in range(steps):
            cam_step(model, images, targets, bf16)
            optimizer.step()
            optimizer.zero_grad()
        rounds.append((time.perf_counter() - start) / steps)
    return rounds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--size", type=int, default=128)
    parser.add_argument("--steps", type=int, default=5)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(
        f"torch {torch.__version__}, {args.threads} threads, CAMNet resnet18 OS16, batch {args.batch} at {args.size} px"
    )
    for last in (False, True):
        for bf16 in (False, True):
            rounds = time_variant(last, bf16, args.batch, args.size, args.steps)
            print(
                f"channels_last={last!s:5} bf16={bf16!s:5} "
                f"{statistics.median(rounds):.3f} s/step (rounds {min(rounds):.3f}-{max(rounds):.3f})"
            )


if __name__ == "__main__":
    main()
