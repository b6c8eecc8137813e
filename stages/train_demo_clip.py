"""Stage: train the demo CLIP on views of the demo world and save it like an OpenAI checkpoint."""

import logging
import time

import torch

from wsss.demo.clip import (
    DemoClipArchitecture,
    build_demo_clip,
    evaluate_demo_clip,
    make_view_pool,
    train_demo_clip,
)
from wsss.demo.scenes import WorldSettings
from wsss.device import pick_device
from wsss.io import atomic_path, write_json
from wsss.models.clip_scorer import export_torchscript, load_clip
from wsss.stage import run_stage

log = logging.getLogger("train_demo_clip")


def train_demo_clip_stage(
    checkpoint: str,
    evaluation: str,
    architecture: dict,
    world: dict,
    train_scenes: int = 1200,
    eval_scenes: int = 200,
    steps: int = 500,
    batch_size: int = 128,
    lr: float = 0.002,
    seed: int = 0,
    subset_weight: float = 0.25,
    calibration_weight: float = 1.0,
    threads: int = 1,
) -> None:
    """Train, export as TorchScript, reload through clip.load, and write the evaluation JSON.

    ``world`` holds the demo world's drawing settings, so that the CLIP sees the same kind of
    images (at the same size, resized to its resolution) as the CAM stages will show it.
    """
    torch.manual_seed(seed)
    device = pick_device()
    arch = DemoClipArchitecture(**architecture)
    settings = WorldSettings.from_config(world)  # views are drawn at the demo images' size, then resized
    start = time.perf_counter()
    pool = make_view_pool(seed, "clip_train", train_scenes, settings, arch.image_resolution, workers=threads)
    held_out = make_view_pool(seed, "clip_eval", eval_scenes, settings, arch.image_resolution, workers=threads)
    pool_seconds = time.perf_counter() - start
    log.info(
        "rendered %d training and %d held-out views in %.1f s", len(pool.captions), len(held_out.captions), pool_seconds
    )
    model = build_demo_clip(arch)
    training = train_demo_clip(
        model,
        pool,
        steps=steps,
        batch_size=batch_size,
        lr=lr,
        seed=seed,
        device=device,
        subset_weight=subset_weight,
        calibration_weight=calibration_weight,
    )
    with atomic_path(checkpoint) as tmp:
        export_torchscript(model, str(tmp))
        reloaded = load_clip(str(tmp), device=device)  # the exact path CLIMS will take
    report = evaluate_demo_clip(reloaded.float(), held_out, device)
    report["training"] = {
        **training,
        "views": len(pool.captions),
        "render_seconds": round(pool_seconds, 1),
        "device": str(device),
    }
    report["parameters_millions"] = round(sum(p.numel() for p in model.parameters()) / 1e6, 2)
    write_json(evaluation, report)
    log.info(
        "demo CLIP: object-only top-1 %.3f, masked-object top-1 %.3f, background-only top-1 %.3f (%s s training) -> %s",
        report["object"]["top1_accuracy"],
        report["masked_object"]["top1_accuracy"],
        report["background"]["top1_accuracy"],
        training["seconds"],
        checkpoint,
    )


if __name__ == "__main__":
    run_stage(train_demo_clip_stage, globals().get("snakemake"))
