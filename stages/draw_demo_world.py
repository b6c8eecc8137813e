"""Stage: a contact sheet of the demo world's first images (image, mask over it, mask) to look at."""

import logging
from pathlib import Path

from wsss.data.images import read_label_map, read_rgb
from wsss.data.voc_dataset import read_split_ids
from wsss.demo.scenes import CLASSES
from wsss.demo.writer import present_classes
from wsss.io import save_rgb
from wsss.palette import colorize
from wsss.stage import run_stage
from wsss.visualize import contact_sheet, overlay

log = logging.getLogger("draw_demo_world")


def draw_demo_world(root: str, contact_sheet_png: str, split: str, sheet_images: int) -> None:
    """Draw the first ``sheet_images`` images of ``split`` of the world at ``root``, as written."""
    groups, captions = [], []
    for image_id in read_split_ids(Path(root) / "ImageSets" / "Segmentation" / f"{split}.txt")[:sheet_images]:
        rgb = read_rgb(Path(root) / "JPEGImages" / f"{image_id}.jpg")
        labels = read_label_map(Path(root) / "SegmentationClass" / f"{image_id}.png")
        groups.append([rgb, overlay(rgb, labels), colorize(labels)])
        names = [CLASSES[k - 1] for k in present_classes(labels)]
        captions.append(f"{image_id}: {', '.join(names)}")
    save_rgb(contact_sheet_png, contact_sheet(groups, captions, groups_per_row=4))
    log.info("contact sheet: %s", Path(contact_sheet_png))


if __name__ == "__main__":
    run_stage(draw_demo_world, globals().get("snakemake"))
