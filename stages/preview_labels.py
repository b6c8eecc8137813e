"""Stage: pictures of a label folder for people: image | CAM | labels | ground truth, and a contact sheet."""

import logging

import numpy as np

from wsss.config import stage_settings
from wsss.data.cam_io import load_cam
from wsss.data.label_folder import read_label_folder_png
from wsss.data.manifest import DatasetManifest
from wsss.data.voc_dataset import VOCDataset
from wsss.io import atomic_directory, save_rgb
from wsss.palette import colorize
from wsss.stage import run_stage
from wsss.visualize import contact_sheet, heatmap, overlay

log = logging.getLogger("preview_labels")


def preview_labels(
    root: str, manifest: str, labels: str, cams: str, previews: str, split: str, **preview: object
) -> None:
    """Write ``previews/<id>.png`` for a seeded sample of ``images`` ids of ``split`` and
    ``previews/contact_sheet.png``.

    ``preview``: keys of the config's ``preview`` section, defined (with their defaults) by the
    schema alone; keys left out take the schema's defaults.
    """
    settings = stage_settings("preview", preview)
    dataset = VOCDataset(root, DatasetManifest.load(manifest), split)
    with_truth = dataset.has_masks()
    chosen = sorted(
        np.random.default_rng(settings.seed).choice(
            len(dataset), size=min(settings.images, len(dataset)), replace=False
        )
    )
    groups, captions = [], []
    with atomic_directory(previews) as folder:
        for index in chosen:
            image_id = dataset.ids[index]
            rgb = dataset.read_image(image_id)
            predicted = read_label_folder_png(labels, image_id, rgb.shape[:2])
            cam = load_cam(cams, image_id).cam
            tiles = [
                rgb,
                heatmap(rgb, cam.max(axis=0) if len(cam) else np.zeros(rgb.shape[:2])),
                overlay(rgb, predicted),
                colorize(predicted),
            ]
            if with_truth:
                tiles.append(colorize(dataset.read_mask(image_id)))
            save_rgb(folder / f"{image_id}.png", np.concatenate(tiles, axis=1))
            groups.append(tiles)
            names = [dataset.manifest.class_names[k] for k in np.flatnonzero(dataset.label_matrix()[index])]
            captions.append(f"{image_id}: {', '.join(names)}")
        columns = "image | CAM (max over its classes) | labels over image | labels" + (
            " | ground truth" if with_truth else ""
        )
        save_rgb(folder / "contact_sheet.png", contact_sheet(groups, captions, groups_per_row=2))
        (folder / "README.txt").write_text(
            f"Previews of {labels} on {split}: one PNG per sampled image id, side by side:\n{columns}.\n"
        )
    log.info("%d previews and a contact sheet -> %s", len(chosen), previews)


if __name__ == "__main__":
    run_stage(preview_labels, globals().get("snakemake"))
