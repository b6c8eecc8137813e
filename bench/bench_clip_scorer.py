"""Benchmark: CLIP scoring of masked images, batched (one encoder pass) vs one pair at a time.

Prints pairs/s for both on CPU (and CUDA when available). Uses a randomly initialised
clip.model.CLIP of a chosen size, so no weights are needed:

    python bench/bench_clip_scorer.py --model demo      # the demo CLIP's size (64 px ResNet tower)
    python bench/bench_clip_scorer.py --model vit-b-32  # ViT-B/32's size at 224 px
"""

import argparse
import tempfile
import time

import torch

from wsss.demo.clip import DemoClipArchitecture, build_demo_clip
from wsss.models.clip_scorer import ClipScorer, export_torchscript, load_clip
from wsss.rehearsal.weights import build_openai_clip

SIZES = {
    "demo": lambda: build_demo_clip(DemoClipArchitecture()),
    "vit-b-32": lambda: build_openai_clip("ViT-B/32"),
}
CLASSES = [f"a photo of class {i}." for i in range(20)]
BACKGROUNDS = [f"a photo of background {i}." for i in range(10)]


def timed(fn, repeats: int, device: torch.device) -> float:
    fn()  # warm-up
    if device.type == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    for _ in range(repeats):
        fn()
    if device.type == "cuda":
        torch.cuda.synchronize()
    return (time.perf_counter() - start) / repeats


def run(model_size: str, pairs: int, repeats: int, device: torch.device) -> None:
    torch.manual_seed(0)
    with tempfile.TemporaryDirectory() as folder:
        path = f"{folder}/clip.pt"
        export_torchscript(SIZES[model_size](), path)
        scorer = ClipScorer(load_clip(path, device=device), CLASSES, BACKGROUNDS, "clip").to(device)
    images = torch.rand(pairs, 3, 128, 128, device=device)
    masks = torch.rand(pairs, 1, 16, 16, device=device, requires_grad=True)
    classes = torch.randint(0, len(CLASSES), (pairs,), device=device)

    def batched():
        scores = scorer.score(images, masks, classes)
        (scores.foreground_class.sum() + scores.background_class.sum() + scores.foreground_backgrounds.sum()).backward()

    def one_at_a_time():
        for i in range(pairs):
            scores = scorer.score(images[i : i + 1], masks[i : i + 1], classes[i : i + 1])
            (
                scores.foreground_class.sum() + scores.background_class.sum() + scores.foreground_backgrounds.sum()
            ).backward()

    t_batched = timed(batched, repeats, device)
    t_single = timed(one_at_a_time, max(1, repeats // 2), device)
    print(
        f"{model_size:9s} {device.type:4s} pairs={pairs:4d}  batched {pairs / t_batched:8.1f} pairs/s   "
        f"one-at-a-time {pairs / t_single:8.1f} pairs/s   speed-up {t_single / t_batched:5.1f}x  "
        "(forward + backward to the masks)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", choices=sorted(SIZES), default="demo")
    parser.add_argument("--pairs", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    devices = [torch.device("cpu")] + ([torch.device("cuda")] if torch.cuda.is_available() else [])
    for device in devices:
        run(args.model, args.pairs, args.repeats, device)


if __name__ == "__main__":
    main()
