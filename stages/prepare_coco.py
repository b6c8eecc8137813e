"""Stage: MS COCO 2014 in VOC layout (image links, label PNGs, XML image labels, train / val splits)."""

import logging
import time

from wsss.data.manifest import DatasetManifest
from wsss.data.prepare.coco import prepare_coco
from wsss.errors import ConfigError
from wsss.io import write_json
from wsss.stage import run_stage

log = logging.getLogger("prepare_coco")


def prepare_coco_stage(coco_root: str, manifest: str, root: str, summary: str, threads: int = 1) -> None:
    """Read each instances JSON once, render the label maps on every core, write the prepared root.

    COCO's images without any annotation are kept with no label, as the reference does, so the
    manifest must allow unlabelled images (checked first).
    """
    start = time.perf_counter()
    description = DatasetManifest.load(manifest)
    if not description.allow_unlabelled_images:
        raise ConfigError(
            f"{manifest}: prepare_coco keeps COCO's images without annotations (no class, as the reference "
            "does); the manifest must set allow_unlabelled_images: true"
        )
    result = prepare_coco(coco_root, root, list(description.class_names), workers=threads)
    write_json(summary, result)
    log.info(
        "train %d, val %d images (of which without any annotation, kept with no class: %s) in %.0f s -> %s",
        result["splits"]["train"],
        result["splits"]["val"],
        result["without_labels"],
        time.perf_counter() - start,
        root,
    )


if __name__ == "__main__":
    run_stage(prepare_coco_stage, globals().get("snakemake"))
