"""Benchmark: make_cam's batched inference and compact files vs a straightforward implementation.

The straightforward version does what the reference code does: one image at a time, one
forward per scale and another for its flip, every class map upsampled, and the maps written as
pickled float32 torch tensors in an ``.npy`` file. The optimised one is this project's
``multiscale_cams`` (images of one size batched, each scale and its flip in one forward,
channels-last, mixed precision on CUDA) with fp16 compressed ``.npz`` files of the positive
classes only. The script checks that both give the same maps, then prints images/s, peak
memory and bytes per image.

    python bench/bench_make_cam.py                # demo scale: ResNet-18 OS16, 128 px, 6 classes
    python bench/bench_make_cam.py --scale voc    # ResNet-50 OS16, 500x375 images, 20 classes
"""

import argparse
import math
import multiprocessing
import os
import resource
import tempfile
import time

import numpy as np
import torch
import torch.nn.functional as F

from wsss.clims.cam_inference import forward_pixel_cap, inference_ready, multiscale_cams, normalize_positive
from wsss.data.cam_io import CamRecord, save_cam
from wsss.data.images import pil_rescale
from wsss.data.training_data import normalize_imagenet
from wsss.models.cam_net import CAMNet

SCALES = {
    "demo": {"depth": "resnet18", "size": (128, 128), "images": 64, "batch": 16, "classes": 6},
    "voc": {"depth": "resnet50", "size": (375, 500), "images": 16, "batch": 8, "classes": 20},
}
INFERENCE_SCALES = [1.0, 0.5, 1.5, 2.0]


def straightforward_cams(model: CAMNet, image: np.ndarray, scales: list[float]) -> torch.Tensor:
    """One uint8 (H, W, 3) image: a forward per scale and per flip, all classes upsampled, summed."""
    height, width = image.shape[:2]
    stride = model.backbone.output_stride
    up_size = (math.ceil(height / stride) * stride, math.ceil(width / stride) * stride)
    device = next(model.parameters()).device
    total = torch.zeros(1, model.num_classes, height, width, device=device)
    for scale in scales:
        scaled = pil_rescale(image, scale)
        x = normalize_imagenet(torch.from_numpy(scaled).to(device).permute(2, 0, 1)[None].float() / 255)
        for flipped in (False, True):
            with torch.no_grad():
                cams = model.cams(x.flip(-1) if flipped else x)
            cams = cams.flip(-1) if flipped else cams
            total += F.interpolate(cams, size=up_size, mode="bilinear", align_corners=False)[:, :, :height, :width]
    return total


def run_variant(scale: str, variant: str, batch: int | None) -> tuple:
    """Time one variant on seeded inputs; runs in its own process for a clean peak memory."""
    setting = {**SCALES[scale], **({"batch": batch} if batch else {})}
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    torch.manual_seed(0)
    model = CAMNet(setting["classes"], setting["depth"], 16).to(device).eval()
    if variant == "optimized":
        model = inference_ready(model, device)
    images = np.random.default_rng(0).integers(0, 256, (setting["images"], *setting["size"], 3), dtype=np.uint8)
    labels = torch.rand(setting["images"], setting["classes"]) < 1.5 / setting["classes"]
    labels[labels.sum(1) == 0, 0] = True
    keys = [row.nonzero().flatten() for row in labels]
    cap = forward_pixel_cap(device)  # as make_cam does
    if variant == "optimized":  # warm-up (allocator, oneDNN/cuDNN kernel choice), untimed
        multiscale_cams(model, images[: setting["batch"]], INFERENCE_SCALES, cap)
    else:
        straightforward_cams(model, images[0], INFERENCE_SCALES)
    with tempfile.TemporaryDirectory() as folder:
        if device.type == "cuda":
            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()
        start = time.perf_counter()
        first = None
        if variant == "optimized":
            for begin in range(0, len(images), setting["batch"]):
                full, stride4 = multiscale_cams(model, images[begin : begin + setting["batch"]], INFERENCE_SCALES, cap)
                for n in range(full.shape[0]):
                    k = keys[begin + n].to(device)
                    cam = normalize_positive(full[n], k).cpu().numpy()
                    first = cam if first is None else first
                    save_cam(
                        folder,
                        f"{begin + n:06d}",
                        CamRecord(keys[begin + n].numpy(), cam, normalize_positive(stride4[n], k).cpu().numpy()),
                    )
        else:
            for n in range(len(images)):
                total = straightforward_cams(model, images[n], INFERENCE_SCALES)[0]
                k = keys[n].to(device)
                cam = total[k] / (F.adaptive_max_pool2d(total[k], (1, 1)) + 1e-5)
                first = cam.cpu().numpy() if first is None else first
                np.save(
                    os.path.join(folder, f"{n:06d}.npy"),
                    {"keys": keys[n], "cam": cam.cpu(), "all_classes": total.cpu()},
                )
        if device.type == "cuda":
            torch.cuda.synchronize()
        seconds = time.perf_counter() - start
        size = sum(os.path.getsize(os.path.join(folder, name)) for name in os.listdir(folder)) / len(images)
    if device.type == "cuda":
        peak = torch.cuda.max_memory_allocated() / 2**20
    else:
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return (variant, seconds, peak, size, first.astype(np.float32), device.type)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scale", choices=sorted(SCALES), default="demo")
    parser.add_argument(
        "--batch", type=int, default=None, help="images per batch of the optimised version (default: the scale's)"
    )
    args = parser.parse_args()
    context = multiprocessing.get_context("spawn")
    measured = {}
    for variant in ("optimized", "straightforward"):
        with context.Pool(1) as worker:  # a fresh process per variant; errors propagate
            measured[variant] = worker.apply(run_variant, (args.scale, variant, args.batch))
    setting = {**SCALES[args.scale], **({"batch": args.batch} if args.batch else {})}
    _, fast_s, fast_mem, fast_size, fast_map, device = measured["optimized"]
    _, slow_s, slow_mem, slow_size, slow_map, _ = measured["straightforward"]
    memory = "peak GPU memory" if device == "cuda" else "peak process RSS"
    n = setting["images"]
    print(
        f"scale={args.scale} device={device} images={n} size={setting['size']} "
        f"scales={INFERENCE_SCALES} + flips, batch {setting['batch']}"
    )
    print(f"  first image's maps (before storage): max |difference| {np.abs(fast_map - slow_map).max():.2e}")
    print(
        f"  optimized       {n / fast_s:8.2f} images/s  {memory} {fast_mem:8.0f} MiB  {fast_size / 1024:8.1f} KiB/image"
    )
    print(
        f"  straightforward {n / slow_s:8.2f} images/s  {memory} {slow_mem:8.0f} MiB  {slow_size / 1024:8.1f} KiB/image"
    )
    print(f"  speed-up {slow_s / fast_s:.2f}x, files {slow_size / fast_size:.1f}x smaller")


if __name__ == "__main__":
    main()
