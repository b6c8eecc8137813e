"""Benchmark: DeepLab training iterations/s and peak memory, with and without AMP on CUDA.

Random images and labels (no data loading), the model and optimiser the train_seg stage builds:

    python bench/bench_segmenter.py                       # demo scale on CPU: DeepLabV3+ R18 OS16, crop 128, batch 8
    python bench/bench_segmenter.py --scale voc           # DeepLabV2 R101 OS8, crop 321, batch 10 (for a GPU)
    python bench/bench_segmenter.py --scale voc --crop 512
"""

import argparse
import resource
import time

import torch

from wsss.models.segmenter import SegmenterSettings, build_model

SCALES = {
    "demo": {
        "model": "deeplabv3plus",
        "backbone": "resnet18",
        "output_stride": 16,
        "crop": 128,
        "batch": 8,
        "classes": 7,
    },
    "voc": {"model": "deeplabv2", "backbone": "resnet101", "output_stride": 8, "crop": 321, "batch": 10, "classes": 21},
}


def run(scale: dict, device: torch.device, amp: bool, steps: int) -> tuple[float, float]:
    """(iterations/s, peak memory in GB) of ``steps`` SGD steps after two warm-up steps."""
    from mmengine.optim import AmpOptimWrapper, OptimWrapper
    from mmengine.structures import PixelData
    from mmseg.structures import SegDataSample

    settings = SegmenterSettings(
        scale["model"],
        scale["backbone"],
        scale["classes"],
        tuple(f"c{i}" for i in range(scale["classes"] - 1)),
        output_stride=scale["output_stride"],
    )
    model = build_model(settings, device=device, crop_size=scale["crop"]).train()
    optimizer = torch.optim.SGD(model.parameters(), lr=1e-3, momentum=0.9)
    wrapper = AmpOptimWrapper(optimizer=optimizer, dtype="bfloat16") if amp else OptimWrapper(optimizer=optimizer)
    crop, batch = scale["crop"], scale["batch"]

    def data() -> dict:
        samples = []
        for _ in range(batch):
            sample = SegDataSample()
            sample.gt_sem_seg = PixelData(data=torch.randint(0, scale["classes"], (1, crop, crop)))
            sample.set_metainfo({"img_shape": (crop, crop), "pad_shape": (crop, crop), "ori_shape": (crop, crop)})
            samples.append(sample)
        return {
            "inputs": [torch.randint(0, 255, (3, crop, crop), dtype=torch.uint8) for _ in range(batch)],
            "data_samples": samples,
        }

    for _ in range(2):
        model.train_step(data(), wrapper)
    if device.type == "cuda":
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    start = time.perf_counter()
    for _ in range(steps):
        model.train_step(data(), wrapper)
    if device.type == "cuda":
        torch.cuda.synchronize()
        peak = torch.cuda.max_memory_allocated() / 2**30
    else:
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    return steps / (time.perf_counter() - start), peak


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scale", choices=sorted(SCALES), default="demo")
    parser.add_argument("--crop", type=int, help="override the crop size")
    parser.add_argument("--steps", type=int, default=10)
    args = parser.parse_args()
    scale = dict(SCALES[args.scale], **({"crop": args.crop} if args.crop else {}))
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    print(
        f"{scale['model']}-{scale['backbone']} OS{scale['output_stride']}, "
        f"crop {scale['crop']}, batch {scale['batch']}, on {device}"
    )
    for amp in [False, True] if device.type == "cuda" else [False]:
        if device.type == "cuda":
            torch.backends.cudnn.benchmark = True
        rate, peak = run(scale, device, amp, args.steps)
        memory = "peak CUDA memory" if device.type == "cuda" else "peak RSS"
        print(
            f"AMP {'bf16' if amp else 'off '}: {rate:.2f} iterations/s, "
            f"{rate * scale['batch']:.1f} images/s, {memory} {peak:.2f} GB"
        )


if __name__ == "__main__":
    main()
