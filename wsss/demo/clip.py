"""A small CLIP trained on the demo world, standing in for OpenAI's weights where they cannot be had.

It has OpenAI's architecture (``clip.model.CLIP``, the real tokenizer) and is saved as a
TorchScript archive like OpenAI's checkpoints, so :func:`wsss.models.clip_scorer.load_clip` loads it
through ``clip.load`` exactly as it loads ``ViT-B/32``. It is trained contrastively on views of
scenes drawn from the demo-world generator (a separate random stream from the train/val
images): whole images captioned with their objects and backgrounds, object-only views,
background-only views, CAM-like softly masked views (the inputs CLIMS will show it), and blank
views, so that a blank input does not look like any class.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass, replace

import numpy as np
import torch
import torch.nn.functional as F

from wsss.config import schema_defaults
from wsss.demo.render import render_scene
from wsss.demo.scenes import BACKGROUND_OF, CLASSES, WorldSettings, image_rng, sample_scene
from wsss.device import autocast, channels_last, fast_bf16
from wsss.models.clip_scorer import openai_clip, prepare_clip_input
from wsss.optimizers import ChannelsLastAdamW
from wsss.palette import IGNORE_INDEX
from wsss.parallel import map_in_processes

log = logging.getLogger(__name__)

BLANK_CAPTION = "a photo of nothing."
# Every concept a caption can name; a view's concepts are a bit set over this tuple.
CONCEPTS: tuple[str, ...] = (*CLASSES, *(BACKGROUND_OF[c] for c in CLASSES), "nothing", "wall")


def concept_bits(names: list[str]) -> int:
    """Bit set of ``names`` over :data:`CONCEPTS` ("wall" for an empty list: the plain base)."""
    return sum(1 << CONCEPTS.index(n) for n in (names or ["wall"]))


@dataclass(frozen=True)
@schema_defaults("demo_clip.architecture")
class DemoClipArchitecture:
    """Sizes of the demo CLIP (defaults: the schema's ``demo_clip.architecture``). Four
    ``vision_layers`` select OpenAI's ModifiedResNet tower, one a ViT.

    clip.model.build_model infers attention heads as width // 64 for the text and ViT towers,
    so their widths must be multiples of 64.
    """

    embed_dim: int
    image_resolution: int
    vision_layers: int | tuple[int, int, int, int]
    vision_width: int
    vision_patch_size: int
    context_length: int
    text_width: int
    text_layers: int


def build_demo_clip(arch: DemoClipArchitecture) -> torch.nn.Module:
    """A freshly initialised ``clip.model.CLIP``: ResNet image tower for a layer tuple, else a ViT."""
    layers = tuple(arch.vision_layers) if isinstance(arch.vision_layers, (list, tuple)) else arch.vision_layers
    return openai_clip().model.CLIP(
        embed_dim=arch.embed_dim,
        image_resolution=arch.image_resolution,
        vision_layers=layers,
        vision_width=arch.vision_width,
        vision_patch_size=arch.vision_patch_size,
        context_length=arch.context_length,
        vocab_size=49408,
        transformer_width=arch.text_width,
        transformer_heads=arch.text_width // 64,
        transformer_layers=arch.text_layers,
    )


def caption(names: list[str]) -> str:
    """'a photo of boat.' / 'a photo of boat, water.': the demo manifest's prompt template."""
    return f"a photo of {', '.join(names or ['wall'])}."


@dataclass
class ViewPool:
    """Training or evaluation views: images (N, 3, R, R) uint8, masks (N, 1, R, R) uint8 (255 = keep)."""

    images: np.ndarray
    masks: np.ndarray
    captions: list[str]
    kinds: list[str]
    soft: np.ndarray  # (N,) bool: the mask may be softened by augmentation
    concepts: np.ndarray  # (N,) int64 bit sets over CONCEPTS: what each view shows


def _downsample(rgb: np.ndarray, resolution: int) -> np.ndarray:
    tensor = torch.from_numpy(rgb).permute(2, 0, 1)[None].float()
    small = F.interpolate(tensor, size=(resolution, resolution), mode="bilinear", antialias=True, align_corners=False)
    return small[0].round().clamp(0, 255).byte().numpy()


def _downsample_mask(mask: np.ndarray, resolution: int) -> np.ndarray:
    tensor = torch.from_numpy(mask.astype(np.float32))[None, None]
    small = F.interpolate(tensor, size=(resolution, resolution), mode="area")
    return (small[0] * 255).round().byte().numpy()


def _scene_views(
    task: tuple[int, str, int, WorldSettings, int],
) -> list[tuple[np.ndarray, np.ndarray, list[str], str, bool]]:
    """All views of one scene: (image, mask, concept names, kind, soft-maskable)."""
    seed, stream, index, settings, resolution = task
    scene = sample_scene(image_rng(seed, stream, index), settings)
    full, labels, instances = render_scene(scene, settings)
    object_names = sorted({layer.name for layer in scene.objects}, key=CLASSES.index)
    background_names = [layer.name for layer in scene.backgrounds]
    ones = np.ones(labels.shape, dtype=bool)
    image = _downsample(full, resolution)
    views = [(image, _downsample_mask(ones, resolution), object_names + background_names, "full", False)]
    for name in object_names:
        only = replace(scene, backgrounds=[], objects=[o for o in scene.objects if o.name == name])
        rgb, only_labels, _ = render_scene(only, settings)
        if not np.any((only_labels != 0) & (only_labels != IGNORE_INDEX)):
            continue
        views.append((_downsample(rgb, resolution), _downsample_mask(ones, resolution), [name], "object", False))
        # Masks from the instance map, not the label map: its ignore borders would erode thin parts.
        object_mask = np.isin(instances, [i + 1 for i, o in enumerate(scene.objects) if o.name == name])
        if object_mask.sum() >= settings.min_object_pixels:
            views.append((image, _downsample_mask(object_mask, resolution), [name], "masked_object", True))
            # The object cut out, the rest kept: what CLIMS's BTM shows CLIP. A hard negative for
            # the object's caption even where its co-occurring background remains.
            rest = [n for n in object_names if n != name] + background_names
            views.append((image, _downsample_mask(~object_mask, resolution), rest, "object_removed", True))
    empty, _, _ = render_scene(replace(scene, objects=[]), settings)
    views.append(
        (_downsample(empty, resolution), _downsample_mask(ones, resolution), background_names, "background", False)
    )
    not_objects = instances == 0
    views.append((image, _downsample_mask(not_objects, resolution), background_names, "masked_background", True))
    if index % 8 == 0:
        views.append((image, np.zeros_like(views[0][1]), ["nothing"], "blank", False))
    return views


def make_view_pool(
    seed: int, stream: str, scenes: int, settings: WorldSettings, resolution: int, workers: int = 1
) -> ViewPool:
    """Render the views of ``scenes`` scenes from the generator's ``stream`` (deterministic)."""
    tasks = [(seed, stream, i, settings, resolution) for i in range(scenes)]
    per_scene = map_in_processes(_scene_views, tasks, workers, chunksize=32)
    views = [v for scene_views in per_scene for v in scene_views]
    return ViewPool(
        images=np.stack([v[0] for v in views]),
        masks=np.stack([v[1] for v in views]),
        captions=[caption(v[2]) for v in views],
        kinds=[v[3] for v in views],
        soft=np.array([v[4] for v in views]),
        concepts=np.array([concept_bits(v[2]) for v in views], dtype=np.int64),
    )


def soften_masks(
    masks: torch.Tensor, soft: torch.Tensor, generator: torch.Generator, min_amplitude: float = 0.15
) -> torch.Tensor:
    """CAM-like augmentation: blur, grow or shrink soft masks a little; scale every mask's amplitude.

    The amplitude scaling (down to ``min_amplitude``) of every view teaches the model what a
    real CLIP does anyway: a dimmed image still shows what it shows. Without it a uniformly
    high CAM (P * X a dim copy of the whole image, (1 - P) * X nearly black) would satisfy OTM
    and BTM at once.
    """
    out = masks.clone()
    n = masks.shape[0]
    grow = torch.rand(n, generator=generator) < 0.3
    shrink = torch.rand(n, generator=generator) < 0.3
    grown = F.max_pool2d(out, 3, stride=1, padding=1)
    shrunk = -F.max_pool2d(-out, 3, stride=1, padding=1)
    out = torch.where((soft & grow).view(-1, 1, 1, 1), grown, out)
    out = torch.where((soft & shrink & ~grow).view(-1, 1, 1, 1), shrunk, out)
    blurred = F.avg_pool2d(out, 5, stride=1, padding=2, count_include_pad=False)
    out = torch.where(soft.view(-1, 1, 1, 1), blurred, out)
    amplitude = min_amplitude + (1 - min_amplitude) * torch.rand(n, 1, 1, 1, generator=generator)
    return out * amplitude


def caption_positives(view_concepts: torch.Tensor, caption_concepts: torch.Tensor) -> torch.Tensor:
    """(N, T) bool: caption t describes view n when every concept it names is in the view.

    So a boat-on-water image matches "boat, water", "boat" and "water", as a real CLIP image of
    a boat on water scores well against each of those texts.
    """
    return (caption_concepts[None, :] & ~view_concepts[:, None]) == 0


def contrastive_loss(
    image_features: torch.Tensor, text_features: torch.Tensor, targets: torch.Tensor, logit_scale: torch.Tensor
) -> torch.Tensor:
    """Symmetric CLIP loss with weighted soft targets (several positives per row and column)."""
    logits = logit_scale.exp() * F.normalize(image_features, dim=-1) @ F.normalize(text_features, dim=-1).T
    image_to_text = F.cross_entropy(logits, targets / targets.sum(1, keepdim=True))
    text_to_image = F.cross_entropy(logits.T, targets.T / targets.T.sum(1, keepdim=True))
    return (image_to_text + text_to_image) / 2


def calibration_loss(image_features: torch.Tensor, text_features: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Binary cross-entropy of the raw cosine, read as a probability, against per-pair targets.

    CLIMS uses CLIP's cosine as a probability (OTM is -log s, BTM is -log(1 - s)), so what it
    needs from CLIP is absolute: an image with the object cut out must score near 0 for that
    object, not merely below another caption. The softmax of the contrastive loss cannot see
    absolute levels; this term sets them.
    """
    cosine = F.normalize(image_features, dim=-1) @ F.normalize(text_features, dim=-1).T
    return F.binary_cross_entropy(cosine.clamp(1e-4, 1 - 1e-4), targets)


def train_demo_clip(
    model: torch.nn.Module,
    pool: ViewPool,
    *,
    steps: int,
    batch_size: int,
    lr: float,
    seed: int,
    device: torch.device,
    subset_weight: float = 0.25,
    calibration_weight: float = 1.0,
) -> dict:
    """Train ``model`` on ``pool`` with AdamW and a cosine schedule; return loss history and timing.

    The loss is the contrastive loss (which caption fits a view best) plus ``calibration_weight``
    times :func:`calibration_loss` (how well, in absolute terms), both with the view's own
    caption as target 1 and captions naming part of the view as ``subset_weight``.
    """
    clip = openai_clip()
    channels_last(model.to(device)).train()
    texts = sorted(set(pool.captions))
    tokens = clip.tokenize(texts, context_length=model.context_length, truncate=True).to(device)
    caption_index = torch.tensor([texts.index(c) for c in pool.captions])
    view_concepts = torch.from_numpy(pool.concepts)
    text_concepts = torch.zeros(len(texts), dtype=torch.int64)
    text_concepts[caption_index] = view_concepts
    images = torch.from_numpy(pool.images)
    masks = torch.from_numpy(pool.masks)
    soft = torch.from_numpy(pool.soft)
    generator = torch.Generator().manual_seed(seed)
    optimizer = ChannelsLastAdamW(model.parameters(), lr=lr, weight_decay=0.1, fused=True)  # one kernel, not per tensor
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: min(1.0, (s + 1) / 50) * 0.5 * (1 + math.cos(math.pi * s / steps))
    )
    history, start = [], time.perf_counter()
    for step in range(steps):
        batch = torch.randperm(len(caption_index), generator=generator)[:batch_size]
        x = images[batch].to(device).float() / 255.0
        m = soften_masks(masks[batch].float() / 255.0, soft[batch], generator).to(device)
        used = torch.unique(caption_index[batch])
        exact = caption_index[batch][:, None] == used[None, :]
        partial = caption_positives(view_concepts[batch], text_concepts[used]) & ~exact
        # A caption naming part of a view is a weaker match than the view's own caption, so that
        # "a photo of boat." prefers the boat alone to the whole boat-on-water scene (as real CLIP does).
        targets = (exact.float() + subset_weight * partial.float()).to(device)
        with autocast(device, fast_bf16(device)):
            image_features = model.encode_image(prepare_clip_input(x, m, model.visual.input_resolution, "clip"))
            text_features = model.encode_text(tokens[used.to(device)])
            image_features, text_features = image_features.float(), text_features.float()
            loss = contrastive_loss(image_features, text_features, targets, model.logit_scale)
            if calibration_weight > 0:
                loss = loss + calibration_weight * calibration_loss(image_features, text_features, targets)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        schedule.step()
        with torch.no_grad():
            model.logit_scale.clamp_(0, math.log(100))
        history.append(loss.item())
        if step % 50 == 0 or step == steps - 1:
            log.info("step %d/%d loss %.3f (%.1f s)", step + 1, steps, loss.item(), time.perf_counter() - start)
    model.eval()
    return {
        "steps": steps,
        "batch_size": batch_size,
        "seconds": round(time.perf_counter() - start, 1),
        "loss_first": history[0],
        "loss_last": float(np.mean(history[-20:])),
    }


def _stats(values: list[float]) -> dict:
    return (
        {
            "min": round(min(values), 3),
            "mean": round(float(np.mean(values)), 3),
            "max": round(max(values), 3),
            "n": len(values),
        }
        if values
        else {}
    )


@torch.no_grad()
def evaluate_demo_clip(model: torch.nn.Module, pool: ViewPool, device: torch.device) -> dict:
    """Zero-shot accuracy and cosine ranges on held-out views, with the prompts CLIMS will use."""
    clip = openai_clip()
    model.to(device).eval()
    backgrounds = [BACKGROUND_OF[c] for c in CLASSES]

    def encode_text(names):
        tokens = clip.tokenize([caption([n]) for n in names], context_length=model.context_length).to(device)
        return F.normalize(model.encode_text(tokens).float(), dim=-1)

    class_text, background_text = encode_text(list(CLASSES)), encode_text(backgrounds)
    x = torch.from_numpy(pool.images).float().to(device) / 255.0
    m = torch.from_numpy(pool.masks).float().to(device) / 255.0
    features = torch.cat(
        [
            F.normalize(
                model.encode_image(
                    prepare_clip_input(x[i : i + 256], m[i : i + 256], model.visual.input_resolution, "clip")
                ).float(),
                dim=-1,
            )
            for i in range(0, len(x), 256)
        ]
    )
    to_class = (features @ class_text.T).cpu().numpy()
    to_background = (features @ background_text.T).cpu().numpy()
    report: dict = {}
    for kind in ("object", "masked_object"):
        rows = [i for i, k in enumerate(pool.kinds) if k == kind]
        truth = [CLASSES.index(pool.captions[i][len("a photo of ") : -1]) for i in rows]
        own = [float(to_class[i, t]) for i, t in zip(rows, truth)]
        other = [float(to_class[i, c]) for i, t in zip(rows, truth) for c in range(len(CLASSES)) if c != t]
        report[kind] = {
            "top1_accuracy": round(float(np.mean([to_class[i].argmax() == t for i, t in zip(rows, truth)])), 4),
            "cosine_own_class": _stats(own),
            "cosine_other_classes": _stats(other),
            "cosine_background_prompts": _stats([float(v) for i in rows for v in to_background[i]]),
        }
    rows = [
        i
        for i, k in enumerate(pool.kinds)
        if k == "background" and pool.captions[i][len("a photo of ") : -1] in backgrounds
    ]
    truth = [backgrounds.index(pool.captions[i][len("a photo of ") : -1]) for i in rows]
    report["background"] = {
        "top1_accuracy": round(float(np.mean([to_background[i].argmax() == t for i, t in zip(rows, truth)])), 4)
        if rows
        else None,
        "cosine_own_background": _stats([float(to_background[i, t]) for i, t in zip(rows, truth)]),
        "cosine_cooccurring_class": _stats([float(to_class[i, t]) for i, t in zip(rows, truth)]),
        "cosine_any_class": _stats([float(v) for i in rows for v in to_class[i]]),
    }
    full = [i for i, k in enumerate(pool.kinds) if k == "full"]
    present = [[c for c in range(len(CLASSES)) if pool.concepts[i] >> c & 1] for i in full]
    ranked = [to_class[i, p].min() > np.delete(to_class[i], p).max(initial=-1.0) for i, p in zip(full, present)]
    report["full"] = {
        "present_classes_ranked_above_absent": round(float(np.mean(ranked)), 4),
        "cosine_present_class": _stats([float(to_class[i, c]) for i, p in zip(full, present) for c in p]),
        "cosine_absent_class": _stats([float(v) for i, p in zip(full, present) for v in np.delete(to_class[i], p)]),
    }
    blank = [i for i, k in enumerate(pool.kinds) if k == "blank"]
    report["blank"] = {"cosine_any_class": _stats([float(v) for i in blank for v in to_class[i]])}
    report["chance_accuracy"] = round(1 / len(CLASSES), 4)
    return report
