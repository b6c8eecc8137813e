"""Stage: write the synthetic demo world (VOC layout) and a contact sheet to look at."""

import logging
import time
from pathlib import Path

import yaml

from wsss.config import stage_settings
from wsss.data.images import read_label_map, read_rgb
from wsss.demo.scenes import CLASSES, WorldSettings
from wsss.demo.writer import demo_image_id, manifest_dict, present_classes, write_demo_world
from wsss.io import atomic_directory, save_rgb, write_json, write_text
from wsss.palette import colorize
from wsss.stage import run_stage
from wsss.visualize import contact_sheet, overlay

log = logging.getLogger("make_demo_world")


def make_demo_world(
    root: str,
    contact_sheet_png: str,
    world: dict,
    threads: int = 1,
    **demo_world: object,
) -> None:
    """Generate the demo dataset into ``root`` (replaced atomically) and draw a contact sheet.

    ``world`` holds the drawing settings (the demo_world config keys of :class:`WorldSettings`);
    ``demo_world``: the section's other keys (seed, split_sizes, sheet_images), defined (with their
    defaults) by the schema alone.
    """
    section = stage_settings("demo_world", demo_world)
    seed, split_sizes, sheet_images = section.seed, section.split_sizes, section.sheet_images
    settings = WorldSettings.from_config(world)
    start = time.perf_counter()
    with atomic_directory(root) as tmp_root:
        stats = write_demo_world(tmp_root, seed, split_sizes, settings, workers=threads)
        write_json(tmp_root / "world.json", stats)
        write_text(tmp_root / "manifest.yaml", yaml.safe_dump(manifest_dict(), sort_keys=False))
    seconds = time.perf_counter() - start
    total = sum(split_sizes.values())
    log.info("wrote %d images to %s in %.1f s (%.0f images/s)", total, root, seconds, total / seconds)

    split = next(iter(split_sizes))
    groups, captions = [], []
    for index in range(min(sheet_images, split_sizes[split])):  # what was written, read back
        image_id = demo_image_id(split, index)
        rgb = read_rgb(Path(root) / "JPEGImages" / f"{image_id}.jpg")
        labels = read_label_map(Path(root) / "SegmentationClass" / f"{image_id}.png")
        groups.append([rgb, overlay(rgb, labels), colorize(labels)])
        names = [CLASSES[k - 1] for k in present_classes(labels)]
        captions.append(f"{image_id}: {', '.join(names)}")
    save_rgb(contact_sheet_png, contact_sheet(groups, captions, groups_per_row=4))
    log.info("contact sheet: %s", Path(contact_sheet_png))


if __name__ == "__main__":
    run_stage(make_demo_world, globals().get("snakemake"))
