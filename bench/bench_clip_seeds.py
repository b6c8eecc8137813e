"""Benchmark: CLIP-ES's maps batched (wsss.seeds.clip_es_maps) vs one class at a time as CLIP-ES's
loop runs them, and MaskCLIP's maps, at VOC size on a random ViT-B/16-shaped CLIP (no weights needed).

The one-class-at-a-time version lives here only (tests/seeds use it as the loop reference): blocks
1..L-1 once per image keeping every block's attention, then per class the last block forward and
backward with weight gradients on, the affinity normalised and squared per class, the box-masked
affinity times the CAM per class.

    PYTHONPATH=. python bench/bench_clip_seeds.py --images 8
"""

from __future__ import annotations

import argparse
import platform
import time

import cv2
import numpy as np
import torch

from wsss.device import fast_bf16
from wsss.evaluation.seed_eval import seed_labels
from wsss.models.clip_scorer import openai_clip
from wsss.rehearsal.weights import OPENAI_CLIP
from wsss.seeds.clip_es import (
    ClipEsSettings,
    box_mask,
    boxes_from_contours,
    clip_es_maps,
    gradcam_maps,
    min_max,
    normalise_affinity,
)
from wsss.seeds.clip_vit import attention, embed, resize_to_patch_multiple, run_block
from wsss.seeds.maskclip import MaskClipSettings, maskclip_maps

VIT_B_16 = {
    **OPENAI_CLIP["ViT-B/16"],
    # the text tower shrunk: only the text embeddings matter here, and random ones do
    "context_length": 16,
    "transformer_width": 64,
    "transformer_heads": 1,
    "transformer_layers": 1,
}


def one_class_at_a_time(
    model: torch.nn.Module,
    image: np.ndarray,
    keys: np.ndarray,
    class_features: torch.Tensor,
    background_features: torch.Tensor,
    settings: ClipEsSettings,
) -> np.ndarray:
    """CLIP-ES's per-image loop (generate_cams_voc12.perform) for one uint8 image: (K, H, W) maps."""
    visual = model.visual
    height, width = image.shape[:2]
    patch = visual.conv1.kernel_size[0]
    pixels = resize_to_patch_multiple(image[None], patch).to(visual.conv1.weight.device)
    rows, columns = pixels.shape[-2] // patch, pixels.shape[-1] // patch
    blocks = visual.transformer.resblocks
    with torch.no_grad():
        x = embed(visual, pixels, "bilinear", settings.positional_through_fp16)
        attentions = []
        for block in blocks[:-1]:
            x, weights = run_block(block, x, need_weights=True)
            attentions.append(weights)
    text = torch.cat([class_features[keys], background_features])
    text = text / text.norm(dim=1, keepdim=True)
    maps = []
    for index in range(len(keys)):
        model.zero_grad()
        y = blocks[-1].ln_1(x).detach().requires_grad_()  # the Grad-CAM layer's output
        out, last_attention = attention(blocks[-1], y, need_weights=True)
        out = x + out
        out = out + blocks[-1].mlp(blocks[-1].ln_2(out))
        tokens = visual.ln_post(out.transpose(0, 1))
        feature = tokens[:, 1:].mean(dim=1) @ visual.proj
        feature = feature / feature.norm(dim=1, keepdim=True)
        probability = (model.logit_scale.exp() * feature @ text.T).softmax(dim=-1)[0, index]
        probability.backward()
        cam = gradcam_maps(_grid(y.detach(), rows, columns), _grid(y.grad, rows, columns))
        cam = min_max(cam)[0] if settings.renormalise_cam else cam[0]
        mean = torch.stack([*attentions, last_attention.detach()])[-settings.affinity_layers :].mean(dim=0)
        affinity = normalise_affinity(mean[0, 1:, 1:], settings.normalise_rounds)
        boxes = boxes_from_contours(cam.numpy(), settings.box_threshold, settings.uint8_boxes, settings.clip_box_edges)
        mask = torch.from_numpy(box_mask(boxes, rows, columns)).view(1, -1)
        refined = ((affinity * mask) @ cam.reshape(-1, 1)).reshape(rows, columns)
        maps.append(cv2.resize(min_max(refined).numpy(), (width, height)))
    return np.stack(maps) if maps else np.zeros((0, height, width), np.float32)


def _grid(tokens: torch.Tensor, rows: int, columns: int) -> torch.Tensor:
    """(1 + h*w, 1, D) tokens as a (1, D, h, w) map, the class token dropped (CLIP-ES's reshape_transform)."""
    return tokens[1:].permute(1, 2, 0).reshape(1, -1, rows, columns)


def generated(rng: np.random.Generator, count: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """VOC-size images (500x375 and 375x500, half each) with 1-3 of 20 classes: smooth colour blobs and noise."""
    items = []
    for index in range(count):
        height, width = (375, 500) if index % 2 == 0 else (500, 375)
        ys, xs = np.mgrid[0:height, 0:width] / max(height, width)
        image = np.stack([np.sin(ys * rng.uniform(2, 9) + xs * rng.uniform(2, 9)) for _ in range(3)], axis=-1)
        image = np.clip(127 + 90 * image + rng.normal(0, 10, image.shape), 0, 255).astype(np.uint8)
        keys = rng.choice(20, size=int(rng.integers(1, 4)), replace=False)
        items.append((image, keys))
    return items


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=int, default=8)
    parser.add_argument("--batch", type=int, default=4, help="images of one size per clip_es_maps call")
    args = parser.parse_args()
    torch.manual_seed(0)
    model = openai_clip().model.CLIP(**VIT_B_16).eval()
    with torch.no_grad():  # peaked attention as a trained CLIP's (a random one's is near uniform, so the
        for block in model.visual.transformer.resblocks:  # refined maps' tiny range would make the final
            block.attn.in_proj_weight[:768] *= 4  # min-max amplify rounding differences)
    classes = torch.nn.functional.normalize(torch.randn(20, 512), dim=1)
    background = torch.nn.functional.normalize(torch.randn(25, 512), dim=1)
    items = generated(np.random.default_rng(0), args.images)
    settings = ClipEsSettings()
    pairs = sum(len(k) for _, k in items)
    print(f"{platform.processor() or platform.machine()}, {torch.get_num_threads()} threads, torch {torch.__version__}")
    print(f"{len(items)} images (500x375 and 375x500), {pairs} (image, class) pairs, ViT-B/16-shaped random CLIP\n")

    for parameter in model.parameters():  # the reference's model: weight gradients on
        parameter.requires_grad_(True)
    one_class_at_a_time(model, items[0][0], items[0][1][:1], classes, background, settings)  # warm-up
    start = time.perf_counter()
    naive = [one_class_at_a_time(model, image, keys, classes, background, settings) for image, keys in items]
    naive_time = time.perf_counter() - start

    for parameter in model.parameters():
        parameter.requires_grad_(False)
    by_size: dict[tuple[int, ...], list[int]] = {}
    for index, (image, _) in enumerate(items):
        by_size.setdefault(image.shape, []).append(index)
    groups = [g[i : i + args.batch] for g in by_size.values() for i in range(0, len(g), args.batch)]

    def run_all(function, settings, autocast_dtype=None) -> tuple[list[np.ndarray], float]:
        results: list[np.ndarray] = [np.zeros(0)] * len(items)
        start = time.perf_counter()
        for group in groups:
            out = function(
                model,
                np.stack([items[i][0] for i in group]),
                [items[i][1] for i in group],
                classes,
                background,
                settings,
                autocast_dtype=autocast_dtype,
            )
            for i, (full, _) in zip(group, out):
                results[i] = full
        return results, time.perf_counter() - start

    run_all(clip_es_maps, settings)  # warm-up
    batched, batched_time = run_all(clip_es_maps, settings)
    _, maskclip_time = run_all(maskclip_maps, MaskClipSettings())
    difference = max(float(np.abs(a - b).max()) for a, b in zip(naive, batched))
    bf16 = fast_bf16(torch.device("cpu"))  # clip_es.precision bf16-autocast, where this CPU has native bf16
    if bf16 is not None:
        run_all(clip_es_maps, settings, bf16)  # warm-up
        mixed, mixed_time = run_all(clip_es_maps, settings, bf16)
        mixed_difference = max(float(np.abs(a - b).max()) for a, b in zip(batched, mixed))
        agreement = np.mean(
            [
                np.mean(seed_labels(a, keys, 0.5) == seed_labels(b, keys, 0.5))
                for a, b, (_, keys) in zip(batched, mixed, items)
            ]
        )
    print("| implementation | images/s | time (s) | speed-up vs one class at a time |")
    print("|---|---|---|---|")
    print(
        f"| CLIP-ES, one class at a time (the reference's loop) | {len(items) / naive_time:.2f} | "
        f"{naive_time:.1f} | 1.00 |"
    )
    print(
        f"| CLIP-ES, clip_es_maps (batch {args.batch}) | {len(items) / batched_time:.2f} | {batched_time:.1f} | "
        f"{naive_time / batched_time:.2f} |"
    )
    if bf16 is not None:
        print(
            f"| CLIP-ES, clip_es_maps (batch {args.batch}), bf16 autocast | {len(items) / mixed_time:.2f} | "
            f"{mixed_time:.1f} | {naive_time / mixed_time:.2f} |"
        )
    print(
        f"| MaskCLIP, maskclip_maps (batch {args.batch}) | {len(items) / maskclip_time:.2f} | {maskclip_time:.1f} | "
        f"{naive_time / maskclip_time:.2f} |"
    )
    print(f"\nlargest difference of the CLIP-ES maps, batched vs one class at a time: {difference:.2e}")
    if bf16 is not None:
        print(
            f"bf16 autocast against fp32 (batched): largest map difference {mixed_difference:.3f}; seeds at the "
            f"(1 - max)^1 background agree on {agreement:.2%} of the pixels"
        )


if __name__ == "__main__":
    main()
