"""Benchmark: fused AdamW steps on the demo segmenter's channels-last weights, torch's and the project's.

Inside train_seg the fused CPU step spends most of its time in copies (torch profiler,
docs/benchmarks.md), and its non-contiguous weights are the channels-last 3x3 convolutions'.
:class:`wsss.optimizers.ChannelsLastAdamW` steps them through their ``permute(0, 2, 3, 1)`` views
(contiguous in that order); the update is elementwise, so the weights must come out as the same
bytes. This checks that and times both, on random gradients, one parameter group per weight as
mmengine's paramwise options build them:

    python bench/bench_adamw_layout.py --steps 10
"""

import argparse
import time

import torch

from wsss.device import channels_last
from wsss.models.segmenter import SegmenterSettings, build_model
from wsss.optimizers import ChannelsLastAdamW


def step_weights(optimizer_class: type[torch.optim.AdamW], steps: int) -> tuple[float, list[torch.Tensor]]:
    """(seconds per step after 3 warm-up steps, the weights afterwards) for one AdamW class."""
    torch.manual_seed(0)
    settings = SegmenterSettings("deeplabv3plus", "resnet18", 7, tuple(f"c{i}" for i in range(6)), output_stride=16)
    weights = list(channels_last(build_model(settings, crop_size=96)).train().parameters())
    generator = torch.Generator().manual_seed(1)
    for weight in weights:
        weight.grad = torch.empty_like(weight).copy_(torch.randn(weight.shape, generator=generator))  # its layout
    optimizer = optimizer_class([{"params": [w]} for w in weights], lr=1e-3, weight_decay=1e-4, fused=True)
    for _ in range(3):
        optimizer.step()
    start = time.perf_counter()
    for _ in range(steps):
        optimizer.step()
    return (time.perf_counter() - start) / steps, [w.detach().clone() for w in weights]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    as_is, weights_as_is = step_weights(torch.optim.AdamW, args.steps)
    views, weights_views = step_weights(ChannelsLastAdamW, args.steps)
    same = all(torch.equal(a, b) for a, b in zip(weights_as_is, weights_views))
    print(f"torch {torch.__version__}, {args.threads} threads, DeepLabV3+ R18 OS16 weights, {args.steps} steps")
    print(f"torch.optim.AdamW:               {1000 * as_is:.1f} ms/step")
    print(f"ChannelsLastAdamW (NHWC views):  {1000 * views:.1f} ms/step")
    print(f"same weights after the steps: {same}")


if __name__ == "__main__":
    main()
