"""Entry point: segment a folder of images with a trained segmenter; palette PNG masks out.

    python stages/predict.py --checkpoint results/demo/models/segmenter.pt \\
        --images my_photos/ --output my_masks/ [--scales '[1.0, 0.5, 0.75]'] [--fusion mean] [--flip true] [--crf true]
"""

import logging
import time
from pathlib import Path

import torch

from wsss.data.images import read_rgb
from wsss.data.label_folder import write_folder_readme, write_label_png
from wsss.device import pick_device
from wsss.errors import DatasetError
from wsss.io import atomic_directory
from wsss.models.segmenter import TEST_CRF, build_model, predict_labels, settings_from_meta
from wsss.stage import run_stage
from wsss.training import load_model_state

log = logging.getLogger("predict")
IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp"}


def predict(
    checkpoint: str,
    images: str,
    output: str,
    scales: list | None = None,
    fusion: str = "max",
    flip: bool = False,
    crf: bool = False,
    threads: int = 1,
) -> None:
    """Write ``output/<image stem>.png`` (class indices, VOC palette) for every image in ``images``.

    ``fusion`` combines the scales as eval_seg's does: max of logits (the reference) or mean of probabilities.
    """
    torch.set_num_threads(threads)
    files = (
        sorted(p for p in Path(images).iterdir() if p.suffix.lower() in IMAGE_SUFFIXES) if Path(images).is_dir() else []
    )
    if not files:
        raise DatasetError(
            f"{images}: no images found (expected a folder of {', '.join(sorted(IMAGE_SUFFIXES))} files)"
        )
    state = load_model_state(checkpoint)
    settings = settings_from_meta(state["meta"])
    model = build_model(settings, state["model"], pick_device())
    start = time.perf_counter()
    with atomic_directory(output) as folder:
        for path in files:
            write_label_png(
                folder,
                path.stem,
                predict_labels(model, read_rgb(path), scales or [1.0], flip, TEST_CRF if crf else None, fusion),
            )
        write_folder_readme(
            folder, f"Predictions of {checkpoint} for the images in {images}.", list(settings.class_names), unsure=False
        )
    log.info("%d images segmented in %.1f s -> %s", len(files), time.perf_counter() - start, output)


if __name__ == "__main__":
    run_stage(predict, globals().get("snakemake"))
