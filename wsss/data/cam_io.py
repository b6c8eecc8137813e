"""CAM files: one compressed ``.npz`` per image id with named arrays (no pickled objects).

- ``keys``: (K,) int16, the image's positive classes, 0-based class indices;
- ``cam``: (K, H, W) float16, each map max-normalised to [0, 1] at full image resolution;
- ``cam_stride4``: (K, ceil(H/4), ceil(W/4)) float16, the same at stride 4 (for the random walk).
"""

from __future__ import annotations

import os
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from wsss.errors import DatasetError
from wsss.io import atomic_path


@dataclass(frozen=True)
class CamRecord:
    keys: np.ndarray
    cam: np.ndarray
    cam_stride4: np.ndarray


def label_values(keys: np.ndarray) -> np.ndarray:
    """Label value of each row of [background, CAM maps]: 0, then key + 1 (labels count background as 0)."""
    return np.concatenate([[0], np.asarray(keys, dtype=np.int64) + 1]).astype(np.uint8)


def cam_path(folder: str | os.PathLike, image_id: str) -> Path:
    return Path(folder) / f"{image_id}.npz"


def save_cam(folder: str | os.PathLike, image_id: str, record: CamRecord) -> None:
    """Write atomically: a crash never leaves a truncated CAM file behind."""
    with atomic_path(cam_path(folder, image_id)) as tmp:
        with open(tmp, "wb") as handle:
            np.savez_compressed(
                handle,
                keys=record.keys.astype(np.int16),
                cam=record.cam.astype(np.float16),
                cam_stride4=record.cam_stride4.astype(np.float16),
            )


def load_cam(folder: str | os.PathLike, image_id: str, expected_keys: np.ndarray | None = None) -> CamRecord:
    """Read a CAM file; errors name the image id and the file (missing, truncated, wrong classes)."""
    path = cam_path(folder, image_id)
    try:
        with np.load(path, allow_pickle=False) as data:
            record = CamRecord(
                data["keys"].astype(np.int64), data["cam"].astype(np.float32), data["cam_stride4"].astype(np.float32)
            )
    except FileNotFoundError:
        raise DatasetError(f"{path}: CAM file for image id {image_id!r} is missing (rerun make_cam)") from None
    except (zipfile.BadZipFile, OSError, ValueError, KeyError, EOFError) as exc:
        raise DatasetError(f"{path}: CAM file for image id {image_id!r} is unreadable or truncated ({exc})") from None
    if record.cam.shape[0] != len(record.keys) or record.cam_stride4.shape[0] != len(record.keys):
        raise DatasetError(
            f"{path}: CAM file for image id {image_id!r} has {record.cam.shape[0]} maps for {len(record.keys)} classes"
        )
    if expected_keys is not None and not np.array_equal(np.sort(record.keys), np.sort(expected_keys)):
        raise DatasetError(
            f"{path}: CAM classes {record.keys.tolist()} of image id {image_id!r} "
            f"do not match its labels {list(map(int, expected_keys))}"
        )
    return record
