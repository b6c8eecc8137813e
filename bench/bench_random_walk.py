"""Benchmark: the random walk of make_pseudo_labels, sparse (this project) vs the reference's dense matrix power.

At VOC size (a 500x375 image: a 125x94 map at stride 4, N = 11,750 pixels) the reference builds
the dense (N, N) transition matrix and squares it exp_times = 8 times; the sparse walk applies
the radius-5 transition 256 times. Same inputs (random boundary map, 3 class maps) for both; the
script prints seconds per image, peak memory and whether the resulting labels agree.

    python bench/bench_random_walk.py                  # VOC size (the dense side takes minutes on 2 cores)
    python bench/bench_random_walk.py --height 40 --width 30
    python bench/bench_random_walk.py --path one-per-step   # the cheaper path rule (see wsss/refine/affinity.py)
"""

import argparse
import resource
import time

import torch

from wsss.refine.affinity import PATH_RULES
from wsss.refine.random_walk import dense_random_walk, random_walk


def peak_rss_gb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--height", type=int, default=125)
    parser.add_argument("--width", type=int, default=94)
    parser.add_argument("--classes", type=int, default=3)
    parser.add_argument("--exp-times", type=int, default=8)
    parser.add_argument("--path", choices=PATH_RULES, default="reference", help="which pixels between a pair count")
    parser.add_argument("--repeats", type=int, default=3, help="sparse runs to average (the dense one runs once)")
    args = parser.parse_args()

    generator = torch.Generator().manual_seed(0)
    # A boundary map with a few strong walls, like IRN's output; CAM peaks in some of the regions.
    edge = torch.rand(args.height, args.width, generator=generator) ** 4
    edge[:, args.width // 3] = 0.95
    edge[args.height // 2, :] = 0.95
    cams = torch.rand(args.classes, args.height, args.width, generator=generator) ** 6
    n = args.height * args.width
    print(
        f"map {args.height}x{args.width} (N = {n}), {args.classes} classes, 2^{args.exp_times} steps, "
        f"radius 5, beta 10, {args.path} paths; {torch.get_num_threads()} threads"
    )

    start = time.perf_counter()
    for _ in range(args.repeats):
        sparse = random_walk(cams, edge, radius=5, beta=10, exp_times=args.exp_times, path=args.path)
    sparse_seconds = (time.perf_counter() - start) / args.repeats
    sparse_peak = peak_rss_gb()
    print(f"sparse: {sparse_seconds:.3f} s per image, peak RSS {sparse_peak:.2f} GB")

    start = time.perf_counter()
    dense = dense_random_walk(cams, edge, radius=5, beta=10, exp_times=args.exp_times, path=args.path)
    dense_seconds = time.perf_counter() - start
    print(
        f"dense:  {dense_seconds:.3f} s per image, peak RSS {peak_rss_gb():.2f} GB "
        f"(dense float64 matrix: {n * n * 8 / 2**30:.2f} GB)"
    )

    relative = float((sparse - dense).abs().max() / dense.abs().max())
    same = (sparse.argmax(0) == dense.argmax(0)).float().mean().item()
    print(f"max relative difference {relative:.2e}; the class argmax agrees on {same:.2%} of pixels")
    print(f"speed-up: {dense_seconds / sparse_seconds:.0f}x")


if __name__ == "__main__":
    main()
