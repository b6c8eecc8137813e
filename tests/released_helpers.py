"""Files as the reference writes them: its CAM files (np.save of a dict holding torch tensors) and
its pseudo-label masks (imageio's greyscale PNG of label values), for the import stages' tests."""

import math
from pathlib import Path

import imageio.v2 as imageio
import numpy as np
import torch
import yaml
from conftest import write_tiny_voc

from wsss.data.manifest import DatasetManifest
from wsss.data.voc_dataset import VOCDataset


def write_reference_cam(
    path: Path, classes: list[int], size: tuple[int, int], seed: int = 0, camera_ready: bool = False
) -> tuple[np.ndarray, np.ndarray]:
    """One image's CAM file written as IRN's step/make_cam.py and CLIMS's step/make_clims.py write it
    (``camera_ready``: as previous_version/inference_cam.py); returns (stride-4 maps, image-size maps)."""
    generator = torch.Generator().manual_seed(seed)
    height, width = size
    valid_cat = torch.nonzero(torch.zeros(20).index_fill_(0, torch.tensor(classes, dtype=torch.long), 1))[:, 0]
    strided_cam = torch.rand(len(classes), math.ceil(height / 4), math.ceil(width / 4), generator=generator)
    highres_cam = torch.rand(len(classes), height, width, generator=generator)
    if len(classes):
        strided_cam /= torch.nn.functional.adaptive_max_pool2d(strided_cam, (1, 1)) + 1e-5
        highres_cam /= torch.nn.functional.adaptive_max_pool2d(highres_cam, (1, 1)) + 1e-5
    path.parent.mkdir(parents=True, exist_ok=True)
    if camera_ready:
        keys = np.pad(valid_cat + 1, (1, 0), mode="constant")
        np.save(path, {"keys": keys, "cam": strided_cam.cpu(), "hr_cam": highres_cam.cpu().numpy()})
    else:
        np.save(path, {"keys": valid_cat, "cam": strided_cam.cpu(), "high_res": highres_cam.cpu().numpy()})
    return strided_cam.numpy(), highres_cam.numpy()


def write_reference_mask(path: Path, labels: np.ndarray) -> None:
    """A pseudo-label mask as step/make_sem_seg_labels.py writes it (imageio, uint8 label values)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    imageio.imwrite(path, labels.astype(np.uint8))


def write_reference_outputs(root: Path, manifest: Path, splits: list[str], cams: Path, masks: Path) -> list[str]:
    """For every image of ``splits``: a CAM file of its classes and a mask (its first class where the
    ground truth has an object, background elsewhere); returns the image ids."""
    description = DatasetManifest.load(manifest)
    ids: dict[str, None] = {}
    for split in splits:
        dataset = VOCDataset(root, description, split)
        for n, (image_id, row) in enumerate(zip(dataset.ids, dataset.label_matrix())):
            classes = np.flatnonzero(row).tolist()
            truth = dataset.read_mask(image_id)
            mask = np.zeros_like(truth)
            mask[(truth > 0) & (truth < 255)] = classes[0] + 1 if classes else 0
            write_reference_cam(cams / f"{image_id}.npy", classes, mask.shape, seed=n)
            write_reference_mask(masks / f"{image_id}.png", mask)
            ids[image_id] = None
    return list(ids)


def write_tiny_release(folder: Path, size: tuple[int, int] = (20, 30)) -> tuple[Path, Path, Path, Path, list[str]]:
    """A tiny VOC root of 3 images (classes cat, diningtable) of ``size``, its manifest file, and the
    reference's CAM files and masks for it: (root, manifest, cams, masks, ids)."""
    root, manifest = folder / "VOC", folder / "manifest.yaml"
    ids = write_tiny_voc(root, n=3, size=size)
    manifest.write_text(yaml.safe_dump({"name": "t", "classes": ["cat", "diningtable"], "background_prompts": ["x"]}))
    write_reference_outputs(root, manifest, ["train"], folder / "released", folder / "masks")
    return root, manifest, folder / "released", folder / "masks", ids
