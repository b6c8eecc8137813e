"""Stage: the reference's released pseudo-label masks (released.pseudo_labels) as this run's pseudo-labels."""

import functools
import logging

from wsss.data.label_folder import write_folder_readme
from wsss.data.manifest import DatasetManifest
from wsss.data.released_folders import released_images
from wsss.data.released_pseudo_labels import convert_reference_mask
from wsss.io import atomic_directory
from wsss.palette import IGNORE_INDEX
from wsss.parallel import map_in_processes
from wsss.progress import Progress
from wsss.refine.cam_to_labels import label_histogram_summary
from wsss.stage import run_stage

log = logging.getLogger("import_pseudo_labels")


def import_pseudo_labels(root: str, manifest: str, released: str, labels: str, splits: list, threads: int = 1) -> None:
    """Write ``labels/<id>.png`` (and the folder's README.txt) for every image of ``splits`` from
    ``released/<id>.png``, each checked against its image first; the values are kept as they are."""
    description = DatasetManifest.load(manifest)
    names = list(description.class_names)
    with atomic_directory(labels) as folder:
        images = released_images(root, description, splits, released, ".png")
        histograms = map_in_processes(
            functools.partial(convert_reference_mask, output=str(folder), num_classes=description.num_classes),
            images,
            threads,
            progress=Progress(len(images), "import_pseudo_labels"),
        )
        write_folder_readme(
            folder,
            f"Pseudo-labels for training the segmenter: the reference's released masks ({released}), as they are.",
            names,
            unsure=any(histogram[IGNORE_INDEX] for histogram in histograms),
        )
    log.info("%d masks of %s -> %s", len(images), released, labels)
    log.info("pixel shares: %s", label_histogram_summary(histograms, names))


if __name__ == "__main__":
    run_stage(import_pseudo_labels, globals().get("snakemake"))
