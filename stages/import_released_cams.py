"""Stage: the reference's released CAM folder (released.clims_cams) as this run's CLIMS CAMs."""

import collections
import functools
import logging

from wsss.data.manifest import DatasetManifest
from wsss.data.released_cam_files import convert_reference_cam
from wsss.data.released_folders import released_images
from wsss.io import atomic_directory
from wsss.parallel import map_in_processes
from wsss.progress import Progress
from wsss.stage import run_stage

log = logging.getLogger("import_released_cams")


def import_released_cams(root: str, manifest: str, released: str, cams: str, splits: list, threads: int = 1) -> None:
    """Write ``cams/<id>.npz`` for every image of ``splits`` from ``released/<id>.npy``.

    Each file is read without running its pickle and checked against its image (classes, sizes,
    values in [0, 1]) before anything is written; ``cams`` replaces make_cam's folder.
    """
    description = DatasetManifest.load(manifest)
    with atomic_directory(cams) as folder:
        images = released_images(root, description, splits, released, ".npy")
        layouts = map_in_processes(
            functools.partial(convert_reference_cam, output=str(folder)),
            images,
            threads,
            progress=Progress(len(images), "import_released_cams"),
        )
    log.info("%d CAM files of %s (%s) -> %s", len(images), released, dict(collections.Counter(layouts)), cams)


if __name__ == "__main__":
    run_stage(import_released_cams, globals().get("snakemake"))
