"""Entry point: segment a folder of images with a trained segmenter; palette PNG masks out.

    python stages/predict.py --checkpoint results/demo/models/segmenter.pt \\
        --images my_photos/ --output my_masks/ [--scales '[1.0, 0.5, 0.75]'] [--fusion mean] [--flip true] [--crf true]
        [--large downscale|tiles] [--max-side 1000]
"""

import logging
import math
import resource
import time
from pathlib import Path

import numpy as np
import torch

from wsss.config import schema_default
from wsss.data.images import read_rgb
from wsss.data.label_folder import write_folder_readme, write_label_png
from wsss.device import pick_device
from wsss.errors import DatasetError
from wsss.io import new_directory
from wsss.models.large_images import LARGE_IMAGE_MODES, label_large_image
from wsss.models.segmenter import TEST_CRF, build_model, predict_labels, read_segmenter_checkpoint
from wsss.progress import track
from wsss.stage import run_stage

log = logging.getLogger("predict")
IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp"}
SHOWN = 5  # name clashes listed


def check_output_folder(output: str, images: str) -> None:
    """Refuse an output folder that holds files, or that is, contains or lies inside the images' folder."""
    out, source = Path(output).resolve(), Path(images).resolve()
    if out == source or source in out.parents or out in source.parents:
        raise DatasetError(f"{output}: the output folder must be apart from the images' folder {images}")
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise DatasetError(f"{output}: exists and is not an empty folder; choose a new folder for the predictions")


def check_distinct_stems(files: list[Path], images: str) -> None:
    """Refuse images whose masks (``<stem>.png``) would share a name, such as x.jpg and x.png.

    Stems differing only in case clash too: on a case-insensitive file system they are one file.
    """
    by_mask: dict[str, list[str]] = {}
    for path in files:
        by_mask.setdefault(path.stem.casefold(), []).append(path.name)
    clashes = [" and ".join(names) for names in by_mask.values() if len(names) > 1]
    if clashes:
        shown = "; ".join(clashes[:SHOWN]) + ("; ..." if len(clashes) > SHOWN else "")
        raise DatasetError(
            f"{images}: masks would have the same name: {shown} (each mask is named after its image "
            "without the suffix); rename all but one of each"
        )


def smallest_side(scales: tuple[float, ...]) -> int:
    """The shortest image side every scale of the test keeps at least a pixel of (the pyramid floors)."""
    return max(math.ceil(1 / scale - 1e-9) for scale in scales)


def readable_image(path: Path, minimum: int) -> tuple[np.ndarray | None, str]:
    """The image, or None and why it is skipped: unreadable, or too small for the smallest scale."""
    try:
        rgb = read_rgb(path)
    except DatasetError as error:
        return None, str(error)
    height, width = rgb.shape[:2]
    if min(height, width) < minimum:
        return None, f"{width}x{height} is smaller than {minimum} px a side, the least the smallest scale keeps"
    return rgb, ""


def peak_memory() -> str:
    """The process's peak memory so far: resident set, and CUDA memory where a GPU was used."""
    text = f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20:.2f} GB resident"
    if torch.cuda.is_available() and torch.cuda.max_memory_allocated():
        text += f", {torch.cuda.max_memory_allocated() / 2**30:.2f} GB CUDA"
    return text


def predict(
    checkpoint: str,
    images: str,
    output: str,
    scales: tuple[float, ...] = schema_default("eval_seg", "scales"),
    fusion: str = schema_default("eval_seg", "fusion"),
    flip: bool = schema_default("eval_seg", "flip"),
    crf: bool = schema_default("eval_seg", "crf"),
    large: str = "downscale",
    max_side: int = 1000,
    image_dir: str = "",
    threads: int = 1,
) -> None:
    """Write ``output/<image stem>.png`` (class indices, VOC palette) for every image in ``images``
    (in its sub-folder ``image_dir`` when given: a dataset root's JPEGImages, in the workflow's folder mode).

    ``fusion`` combines the scales as eval_seg's does: max of logits (the reference) or mean of probabilities.
    The defaults of ``scales``, ``fusion``, ``flip`` and ``crf`` are the schema's for eval_seg (the
    reference's test), defined there alone. An image with a side over ``max_side`` pixels is
    segmented ``large`` = "downscale" (to ``max_side``, the mask scaled back) or "tiles" (of at most
    ``max_side`` pixels, with context: full resolution); memory grows with ``max_side`` squared, and
    the peak is logged at the end. Images that cannot be read, or are too small for the smallest
    scale, are named and skipped, listed at the end and in the folder's README.txt.

    ``output`` must be new or empty, and apart from ``images``: predictions never replace a folder
    that holds other files. They are written into a private temporary folder, moved into place only
    if ``output`` is still new or empty by then (two runs into one folder: the second to finish
    fails). Images whose masks would share a name (x.jpg and x.png) are refused before any work.
    """
    images = str(Path(images) / image_dir)
    check_output_folder(output, images)
    if large not in LARGE_IMAGE_MODES or int(max_side) < 64:
        raise ValueError(
            f"large must be one of {LARGE_IMAGE_MODES} and max_side at least 64, got {large!r}, {max_side}"
        )
    files = (
        sorted(p for p in Path(images).iterdir() if p.suffix.lower() in IMAGE_SUFFIXES) if Path(images).is_dir() else []
    )
    if not files:
        raise DatasetError(
            f"{images}: no images found (expected a folder of {', '.join(sorted(IMAGE_SUFFIXES))} files)"
        )
    check_distinct_stems(files, images)
    settings, state = read_segmenter_checkpoint(checkpoint)
    model = build_model(settings, state["model"], pick_device())
    crf_params = TEST_CRF if crf else None
    minimum = smallest_side(tuple(scales))
    skipped: list[str] = []
    start = time.perf_counter()
    try:
        with new_directory(output) as folder:
            for path in track(files, len(files), "predict", logger=log):
                rgb, problem = readable_image(path, minimum)
                if rgb is None:
                    skipped.append(f"{path.name}: {problem}")
                    log.warning("skipped %s", skipped[-1])
                    continue
                try:
                    labels, how = label_large_image(
                        lambda image: predict_labels(model, image, list(scales), flip, crf_params, fusion),
                        rgb,
                        int(max_side),
                        large,
                    )
                except Exception:
                    log.error("segmenting %s failed", path)
                    raise
                if how:
                    log.info("%s: %dx%d, %s", path.name, rgb.shape[1], rgb.shape[0], how)
                write_label_png(folder, path.stem, labels)
            if len(skipped) == len(files):
                raise DatasetError(
                    f"{images}: none of the {len(files)} images could be segmented: " + "; ".join(skipped)
                )
            notes = "".join(f"\nSkipped {line}" for line in skipped)
            write_folder_readme(
                folder,
                f"Predictions of {checkpoint} for the images in {images}.{notes}",
                list(settings.class_names),
                unsure=False,
            )
    except FileExistsError:
        raise DatasetError(
            f"{output}: appeared while predicting (another run into the same folder?); left as it is, "
            "these predictions were not kept: choose a new folder"
        ) from None
    log.info(
        "%d images segmented in %.1f s -> %s (peak memory: %s)",
        len(files) - len(skipped),
        time.perf_counter() - start,
        output,
        peak_memory(),
    )
    if skipped:
        log.warning("%d of %d images skipped:\n  %s", len(skipped), len(files), "\n  ".join(skipped))


if __name__ == "__main__":
    run_stage(predict, globals().get("snakemake"))
