"""Stage: train the demo CLIP on views of the demo world and save it like an OpenAI checkpoint."""

import logging
import time

import torch

from wsss.config import stage_settings
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
    world: dict,
    threads: int = 1,
    **demo_clip: object,
) -> None:
    """Train, export as TorchScript, reload through clip.load, and write the evaluation JSON.

    ``demo_clip``: keys of the config's ``demo_clip`` section, defined (with their defaults) by the
    schema alone; keys left out take the schema's defaults. ``checkpoint`` (the section's key too) is
    where the model goes: the rule's output, required on the command line.
    ``world`` holds the demo world's drawing settings, so that the CLIP sees the same kind of
    images (at the same size, resized to its resolution) as the CAM stages will show it.
    """
    settings = stage_settings("demo_clip", demo_clip)
    torch.manual_seed(settings.seed)
    device = pick_device()
    arch = DemoClipArchitecture(**settings.architecture)
    drawing = WorldSettings.from_config(world)  # views are drawn at the demo images' size, then resized
    start = time.perf_counter()
    pool = make_view_pool(
        settings.seed, "clip_train", settings.train_scenes, drawing, arch.image_resolution, workers=threads
    )
    held_out = make_view_pool(
        settings.seed, "clip_eval", settings.eval_scenes, drawing, arch.image_resolution, workers=threads
    )
    pool_seconds = time.perf_counter() - start
    log.info(
        "rendered %d training and %d held-out views in %.1f s", len(pool.captions), len(held_out.captions), pool_seconds
    )
    model = build_demo_clip(arch)
    training = train_demo_clip(
        model,
        pool,
        steps=settings.steps,
        batch_size=settings.batch_size,
        lr=settings.lr,
        seed=settings.seed,
        device=device,
        subset_weight=settings.subset_weight,
        calibration_weight=settings.calibration_weight,
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
