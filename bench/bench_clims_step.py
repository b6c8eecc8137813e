"""Benchmark: one CLIMS training step, this project's implementation vs a straightforward one.

The straightforward step does what the reference code does: it encodes the class and
background texts every step, loops over the positive (image, class) pairs in Python, resizes
all class maps although only positives are used, encodes each foreground twice (for OTM and
for CBS) and leaves CLIP's weights requiring gradients. Both compute the same loss; the script
checks that, then prints images/s and peak memory of each.

    python bench/bench_clims_step.py                 # demo scale: ResNet-18, 128 px, demo-CLIP size
    python bench/bench_clims_step.py --scale voc     # ResNet-50 OS16, 512 px crops, batch 16,
                                                     # ViT-B/32-sized CLIP (random weights); for a GPU
"""

import argparse
import resource
import tempfile
import time

import torch
import torch.nn.functional as F

from wsss.clims.losses import clims_loss, positive_pairs
from wsss.data.training_data import normalize_imagenet
from wsss.demo.clip import DemoClipArchitecture, build_demo_clip
from wsss.device import autocast, fast_bf16
from wsss.models.cam_net import CAMNet
from wsss.models.clip_scorer import ClipScorer, export_torchscript, load_clip, prepare_clip_input
from wsss.rehearsal.weights import build_openai_clip

SCALES = {
    "demo": {
        "depth": "resnet18",
        "crop": 128,
        "batch": 32,
        "classes": 6,
        "clip": lambda: build_demo_clip(DemoClipArchitecture()),
    },
    "voc": {
        "depth": "resnet50",
        "crop": 512,
        "batch": 16,
        "classes": 20,
        "clip": lambda: build_openai_clip("ViT-B/32"),
    },
}
WEIGHTS = {"alpha": 10.0, "beta": 24.0, "gamma": 1.0, "delta": 0.2, "cbs_threshold": 0.0}


def optimized_step(probabilities_of, scorer, images, labels):
    probabilities = probabilities_of()
    image_index, class_index = positive_pairs(labels)
    scores = scorer.score(images[image_index], probabilities[image_index, class_index].unsqueeze(1), class_index)
    loss, _ = clims_loss(scores, probabilities, **WEIGHTS)
    loss.backward()
    return loss.detach()


def straightforward_step(probabilities_of, clip_model, class_prompts, background_prompts, mode, images, labels):
    import clip

    def encode_text(prompts):
        tokens = clip.tokenize(prompts, context_length=clip_model.context_length).to(images.device)
        return F.normalize(clip_model.encode_text(tokens).float(), dim=-1)

    def encode_image(x, m):
        return F.normalize(
            clip_model.encode_image(prepare_clip_input(x, m, clip_model.visual.input_resolution, mode)).float(), dim=-1
        )

    with autocast(images.device, fast_bf16(images.device)):
        class_text = encode_text(class_prompts)  # every step
        background_text = encode_text(background_prompts)
        probabilities = probabilities_of()
        resolution = clip_model.visual.input_resolution
        resized = F.interpolate(
            probabilities, size=(resolution, resolution), mode="bilinear", align_corners=False
        )  # all classes
        otm, btm, cbs = [], [], []
        for n in range(images.shape[0]):
            for k in labels[n].nonzero().flatten().tolist():
                mask = resized[n : n + 1, k : k + 1]
                x = images[n : n + 1]
                otm.append((encode_image(x, mask) @ class_text[k]).squeeze(0))
                btm.append((encode_image(x, 1 - mask) @ class_text[k]).squeeze(0))
                cbs.append((encode_image(x, mask) @ background_text.T).squeeze(0))  # foreground encoded again
    from wsss.models.clip_scorer import MatchScores

    scores = MatchScores(torch.stack(otm), torch.stack(btm), torch.stack(cbs))
    loss, _ = clims_loss(scores, probabilities, **WEIGHTS)
    loss.backward()
    return loss.detach()


def measure(step, device, repeats):
    step()  # warm-up
    if device.type == "cuda":
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    start = time.perf_counter()
    for _ in range(repeats):
        loss = step()
    if device.type == "cuda":
        torch.cuda.synchronize()
    seconds = (time.perf_counter() - start) / repeats
    if device.type == "cuda":
        peak = torch.cuda.max_memory_allocated() / 2**20
    else:
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return loss, seconds, peak


def run_variant(scale: str, variant: str, repeats: int) -> tuple:
    """Build the same inputs (seeded) and time one variant; runs in its own process for a clean peak memory."""
    setting = SCALES[scale]
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    torch.manual_seed(0)
    with tempfile.TemporaryDirectory() as folder:
        export_torchscript(setting["clip"](), f"{folder}/clip.pt")
        clip_model = load_clip(f"{folder}/clip.pt", device=device).float()
    classes = [f"a photo of class {i}." for i in range(setting["classes"])]
    backgrounds = [f"a photo of background {i}." for i in range(10)]
    model = CAMNet(setting["classes"], setting["depth"], 16).to(device)
    images = torch.rand(setting["batch"], 3, setting["crop"], setting["crop"], device=device)
    labels = (torch.rand(setting["batch"], setting["classes"], device=device) < 1.5 / setting["classes"]).float()
    labels[labels.sum(1) == 0, 0] = 1.0

    def network() -> torch.Tensor:
        with autocast(device, fast_bf16(device)):
            return model.probabilities(normalize_imagenet(images)).float()

    fixed = network().detach().requires_grad_()  # for timing the CLIMS part without the CAM network
    if variant == "optimized":
        scorer = ClipScorer(clip_model, classes, backgrounds, "clip", autocast_dtype=fast_bf16(device)).to(device)
        step = lambda probabilities_of: optimized_step(probabilities_of, scorer, images, labels)  # noqa: E731
    else:
        for parameter in clip_model.parameters():  # the straightforward step leaves CLIP's weights trainable
            parameter.requires_grad_(True)

        def step(probabilities_of):
            return straightforward_step(probabilities_of, clip_model, classes, backgrounds, "clip", images, labels)

    part_loss, part_seconds, _ = measure(lambda: step(lambda: fixed), device, repeats)
    loss, seconds, peak = measure(lambda: step(network), device, repeats)
    return (variant, loss.item(), seconds, peak, int(labels.sum()), device.type, part_loss.item(), part_seconds)


def main() -> None:
    import multiprocessing

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scale", choices=sorted(SCALES), default="demo")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    context = multiprocessing.get_context("spawn")
    measured = {}
    for variant in ("optimized", "straightforward"):
        with context.Pool(1) as worker:  # a fresh process per variant, for a clean peak memory; errors propagate
            measured[variant] = worker.apply(run_variant, (args.scale, variant, args.repeats))
    setting = SCALES[args.scale]
    _, fast_loss, fast_s, fast_mem, pairs, device, fast_part_loss, fast_part_s = measured["optimized"]
    _, slow_loss, slow_s, slow_mem, _, _, slow_part_loss, slow_part_s = measured["straightforward"]
    memory = "peak GPU memory" if device == "cuda" else "peak process RSS"
    print(f"scale={args.scale} device={device} batch={setting['batch']} crop={setting['crop']} positive pairs={pairs}")
    print(
        f"  loss: optimized {fast_loss:.6f}  straightforward {slow_loss:.6f}  (|diff| {abs(fast_loss - slow_loss):.2e})"
    )
    print(
        f"  optimized       {setting['batch'] / fast_s:8.2f} images/s  {fast_s * 1000:8.1f} ms/step  "
        f"{memory} {fast_mem:8.0f} MiB"
    )
    print(
        f"  straightforward {setting['batch'] / slow_s:8.2f} images/s  {slow_s * 1000:8.1f} ms/step  "
        f"{memory} {slow_mem:8.0f} MiB"
    )
    print(f"  speed-up {slow_s / fast_s:.2f}x (whole step)")
    print(
        "  CLIMS part alone (CLIP scoring, losses, backward to P; CAM network excluded): "
        f"loss |diff| {abs(fast_part_loss - slow_part_loss):.2e}"
    )
    print(
        f"  optimized {fast_part_s * 1000:8.1f} ms  straightforward {slow_part_s * 1000:8.1f} ms  "
        f"speed-up {slow_part_s / fast_part_s:.2f}x"
    )


if __name__ == "__main__":
    main()
