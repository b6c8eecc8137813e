"""Stage: a folder of photos and class names made into the run's dataset (VOC layout), labelled by CLIP."""

import logging
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import yaml

from wsss.config import FOLDER_SPLIT, stage_settings
from wsss.data.folder_dataset import Skipped, add_image, scan_folder, write_folder_tables
from wsss.data.images import read_rgb
from wsss.data.manifest import DatasetManifest, folder_manifest_dict
from wsss.data.voc_writer import write_annotation, write_split
from wsss.device import pick_device
from wsss.errors import DatasetError
from wsss.io import atomic_directory, write_json, write_text
from wsss.models.clip_scorer import ClipScorer, load_clip
from wsss.progress import Progress
from wsss.seeds.image_labels import check_prompts, class_probabilities, label_thresholds, labels_from_probabilities
from wsss.stage import run_stage

log = logging.getLogger("prepare_folder")
SHOWN = 5  # skipped files named in an error


def prepare_folder(
    images: str,
    root: str,
    manifest: str,
    labels: str,
    clip_model: str,
    clip_download_root: str,
    clip_weights: str | None = None,
    threads: int = 1,
    **folder: object,
) -> None:
    """Write ``root``: every readable photo of ``images`` as ``JPEGImages/<id>.jpg``, the split
    ``train`` listing them, ``Annotations/<id>.xml`` holding the classes CLIP sees in each, and the tables
    ``image_labels.tsv`` (each photo's class probabilities) and ``skipped.tsv`` (each file left out, and
    why); ``manifest`` describes it and ``labels`` sums it up for the report.

    ``clip_model``: the CLIP that labels the photos (config clip.model: a name, or a checkpoint path that
    the rule also gives as ``clip_weights`` so that it waits for it). ``folder``: the config's ``folder``
    section but ``images``, defined (with its defaults) by the schema alone.
    """
    settings = stage_settings("folder", {**folder, "images": images})
    description = DatasetManifest.from_dict(folder_manifest_dict(vars(settings)), f"folder {images}")
    candidates, skipped = scan_folder(images)
    if not candidates:
        raise DatasetError(_nothing_to_read(images, "no image files", skipped))
    device = pick_device()
    clip = load_clip(clip_model, device=device, download_root=clip_download_root)
    scorer = ClipScorer(
        clip,
        check_prompts(description.class_prompts(), description.class_names, "folder.classes", clip.context_length),
        check_prompts(
            description.background_texts(),
            description.background_prompts,
            "folder.background_words",
            clip.context_length,
        ),
        input_mode="clip",
    ).to(device)
    start = time.perf_counter()
    with atomic_directory(root) as tmp:
        image_dir = tmp / description.image_dir
        image_dir.mkdir()
        with ThreadPoolExecutor(max(1, threads)) as pool:
            added = list(pool.map(lambda image: add_image(image, image_dir, settings.max_side), candidates))
        kept = []
        for image, (size, how) in zip(candidates, added):
            if size is None:
                skipped.append(Skipped(image.source.name, how))
                log.warning("skipped %s: %s", image.source.name, how)
            else:
                kept.append((image, size, how))
        if not kept:
            raise DatasetError(
                _nothing_to_read(images, f"none of the {len(candidates)} image files is readable", skipped)
            )
        ids = [image.image_id for image, _, _ in kept]
        progress = Progress(len(ids), "prepare_folder: CLIP labels")
        probabilities = class_probabilities(
            scorer,
            lambda image_id: read_rgb(image_dir / f"{image_id}{description.image_suffix}"),
            ids,
            settings.batch_size,
            progress.advance,
        )
        thresholds = label_thresholds(probabilities, settings.label_threshold)
        present = labels_from_probabilities(probabilities, thresholds, settings.keep_top_class)
        for (image, (height, width), _), row in zip(kept, present):
            objects = [(name, (1, 1, width, height)) for name, on in zip(description.class_names, row) if on]
            write_annotation(
                tmp / description.annotation_dir / f"{image.image_id}.xml",
                f"{image.image_id}.jpg",
                (height, width),
                objects,
            )
        write_split(tmp / description.split_dir / f"{FOLDER_SPLIT}.txt", ids)
        write_folder_tables(tmp, kept, probabilities, present, description.class_names, skipped)
    summary = {
        "folder": images,
        "clip_model": clip_model,
        "images": len(ids),
        "skipped": len(skipped),
        "class_names": list(description.class_names),
        "images_per_class": dict(zip(description.class_names, map(int, present.sum(axis=0)))),
        "images_without_class": int((~present.any(axis=1)).sum()),
        "label_threshold": settings.label_threshold,
        "label_thresholds": dict(zip(description.class_names, map(float, thresholds))),
        "keep_top_class": settings.keep_top_class,
        "seconds": time.perf_counter() - start,
    }
    write_text(manifest, yaml.safe_dump(folder_manifest_dict(vars(settings)), sort_keys=False))
    write_json(labels, summary)
    for name, count in summary["images_per_class"].items():
        if count == 0:
            log.warning(
                "no photo has class %r (no probability reaches its threshold %.4g, folder.label_threshold %s): "
                "its seeds and pseudo-labels will be empty; check its name, or lower the threshold",
                name,
                summary["label_thresholds"][name],
                settings.label_threshold,
            )
    log.info(
        "%d photos of %s labelled (%d left out, see %s) in %.1f s: %s",
        len(ids),
        images,
        len(skipped),
        Path(root) / "skipped.tsv",
        summary["seconds"],
        ", ".join(f"{name} {count}" for name, count in summary["images_per_class"].items()),
    )


def _nothing_to_read(images: str, what: str, skipped: list[Skipped]) -> str:
    shown = "; ".join(f"{entry.name}: {entry.reason}" for entry in skipped[:SHOWN])
    more = f" (and {len(skipped) - SHOWN} more)" if len(skipped) > SHOWN else ""
    return f"{images}: {what} to make a dataset of" + (
        f"; left out: {shown}{more}" if skipped else " (the folder is empty)"
    )


if __name__ == "__main__":
    run_stage(prepare_folder, globals().get("snakemake"))
