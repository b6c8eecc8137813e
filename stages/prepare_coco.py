"""Stage: MS COCO 2014 in VOC layout (image links, label PNGs, XML image labels, train / val splits)."""

import logging
import time

from wsss.data.manifest import DatasetManifest
from wsss.data.prepare.coco import prepare_coco
from wsss.io import write_json
from wsss.stage import run_stage

log = logging.getLogger("prepare_coco")


def prepare_coco_stage(coco_root: str, manifest: str, root: str, summary: str, threads: int = 1) -> None:
    """Read each instances JSON once, render the label maps on every core, write the prepared root."""
    start = time.perf_counter()
    result = prepare_coco(coco_root, root, list(DatasetManifest.load(manifest).class_names), workers=threads)
    write_json(summary, result)
    log.info(
        "train %d, val %d images (left out without any annotation: %s) in %.0f s -> %s",
        result["splits"]["train"],
        result["splits"]["val"],
        result["without_labels"],
        time.perf_counter() - start,
        root,
    )


if __name__ == "__main__":
    run_stage(prepare_coco_stage, globals().get("snakemake"))
