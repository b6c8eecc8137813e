"""Label maps straight from CAMs with a dense CRF: IRN's IR labels and the cheaper CRF pseudo-labels.

Both work over background plus the image's positive classes only (the CAM file's ``keys``), so
the CRF never considers a class the image does not contain.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from wsss.data.cam_io import CamRecord, cam_path, label_values, load_cam
from wsss.data.images import read_rgb
from wsss.data.label_folder import write_label_png
from wsss.data.manifest import DatasetManifest
from wsss.data.voc_dataset import images_with_classes
from wsss.errors import DatasetError
from wsss.palette import IGNORE_INDEX
from wsss.refine.crf import CRFParams, crf_image, crf_probabilities, crf_refine_labels, per_pixel_probabilities


def _labels_with_background(cam: np.ndarray, threshold: float) -> np.ndarray:
    """argmax over [background plane at ``threshold``, cam maps]: 0 background, k+1 the k-th map."""
    return np.concatenate([np.full((1, *cam.shape[1:]), threshold, dtype=cam.dtype), cam]).argmax(axis=0)


def ir_labels(
    image: np.ndarray, cam: np.ndarray, keys: np.ndarray, fg_threshold: float, bg_threshold: float, params: CRFParams
) -> np.ndarray:
    """Inter-pixel relation labels: confident foreground classes, confident background, 255 between.

    Two CRF passes over the seeds at a high (``fg_threshold``) and a low (``bg_threshold``)
    background plane. A pixel keeps the high pass's class where it found one; where only the
    low pass finds an object it is unsure (255); where both say background it is background (0).
    """
    values = label_values(keys)
    confident_fg = values[crf_refine_labels(image, _labels_with_background(cam, fg_threshold), len(values), params)]
    confident_bg = values[crf_refine_labels(image, _labels_with_background(cam, bg_threshold), len(values), params)]
    labels = confident_fg.copy()
    labels[confident_fg == 0] = IGNORE_INDEX
    labels[(confident_fg == 0) & (confident_bg == 0)] = 0
    return labels


def power_background(cam: np.ndarray, alpha: float) -> np.ndarray:
    """CLIP-ES's background score (1, H, W): (1 - the maximum of the CAMs)^alpha (1 where there is no CAM)."""
    peak = cam.max(axis=0, keepdims=True) if len(cam) else np.zeros((1, *cam.shape[1:]), dtype=np.float32)
    return np.power(1 - peak.astype(np.float32), alpha)


def crf_scores(cam: np.ndarray, background: str, bg_threshold: float, alpha: float) -> np.ndarray:
    """[background, CAMs] as the CRF reads them: 'threshold', a constant plane at ``bg_threshold`` with the
    scores normalised per pixel; 'power', CLIP-ES's :func:`power_background` with the scores as they are
    (eval_cam_with_crf.py)."""
    cam = cam.astype(np.float32)
    if background == "power":
        return np.concatenate([power_background(cam, alpha), cam])
    if background != "threshold":
        raise ValueError(f"refine.background must be threshold or power, got {background!r}")
    return per_pixel_probabilities(np.concatenate([np.full((1, *cam.shape[1:]), bg_threshold, dtype=np.float32), cam]))


def crf_pseudo_labels(
    image: np.ndarray,
    cam: np.ndarray,
    keys: np.ndarray,
    params: CRFParams,
    background: str = "threshold",
    bg_threshold: float = 0.2,
    alpha: float = 1.0,
    confidence: float = 0.0,
) -> np.ndarray:
    """Pseudo-labels 0..C from a CRF over :func:`crf_scores` read as class probabilities; where the top
    marginal is below ``confidence``, 255 (ignored by the segmenter: CLIP-ES's masks use 0.95)."""
    marginals = crf_probabilities(image, crf_scores(cam, background, bg_threshold, alpha), params)
    return labels_from_marginals(marginals, keys, confidence)


def labels_from_marginals(marginals: np.ndarray, keys: np.ndarray, confidence: float) -> np.ndarray:
    """Label values of the CRF's top class per pixel ((1 + K, H, W) marginals over background and ``keys``),
    255 where its marginal is below ``confidence``; apart, so that several confidences share one CRF."""
    labels = label_values(keys)[marginals.argmax(axis=0)]
    labels[marginals.max(axis=0) < confidence] = IGNORE_INDEX
    return labels


@dataclass(frozen=True)
class CamLabelJob:
    """One image of a folder-to-folder job: where its image and CAM are, and where its labels go."""

    image_id: str
    image_path: str
    keys: tuple[int, ...]
    cams: str
    output: str


def read_job(job: CamLabelJob) -> tuple[np.ndarray, CamRecord]:
    record = load_cam(job.cams, job.image_id, expected_keys=np.array(job.keys, dtype=np.int64))
    image = read_rgb(job.image_path)
    if record.cam.shape[1:] != image.shape[:2]:
        raise DatasetError(
            f"{cam_path(job.cams, job.image_id)}: CAM of image id {job.image_id!r} is {record.cam.shape[1:]}, "
            f"its image {image.shape[:2]}"
        )
    return image, record


def write_job_labels(job: CamLabelJob, labels: np.ndarray) -> np.ndarray:
    """Write one job's labels to ``<output>/<id>.png``; return their histogram (for the stage's log)."""
    write_label_png(job.output, job.image_id, labels)
    return np.bincount(labels.ravel(), minlength=256)


def write_ir_labels(job: CamLabelJob, fg_threshold: float, bg_threshold: float, params: CRFParams) -> np.ndarray:
    """:func:`ir_labels` of one image, written; returns its label histogram."""
    image, record = read_job(job)
    return write_job_labels(job, ir_labels(image, record.cam, record.keys, fg_threshold, bg_threshold, params))


def write_crf_pseudo_labels(
    job: CamLabelJob, params: CRFParams, image_kind: str = "rgb", **scoring: object
) -> np.ndarray:
    """:func:`crf_pseudo_labels` of one image (``scoring``: its background, bg_threshold, alpha and
    confidence), the CRF comparing the colours of :func:`~wsss.refine.crf.crf_image` ``image_kind``;
    written; returns its label histogram."""
    image, record = read_job(job)
    labels = crf_pseudo_labels(crf_image(image, image_kind), record.cam, record.keys, params, **scoring)
    return write_job_labels(job, labels)


def cam_label_jobs(
    dataset_root: str,
    manifest: DatasetManifest,
    splits: list[str],
    cams: str,
    output: str,
    shard: int = 0,
    shards: int = 1,
) -> list[CamLabelJob]:
    """One job per image id of ``splits`` (each id once), with its positive classes as the expected CAM keys;
    only shard ``shard`` of ``shards`` of them (:func:`wsss.sharding.shard_members`)."""
    return [
        CamLabelJob(image_id, image_path, keys, str(cams), str(output))
        for image_id, (image_path, keys) in images_with_classes(dataset_root, manifest, splits, shard, shards).items()
    ]


def label_histogram_summary(histograms: list[np.ndarray], class_names: list[str]) -> dict:
    """Share of pixels per label value (background, classes, unsure) over a folder, for the logs."""
    total = np.sum(histograms, axis=0) if len(histograms) else np.zeros(256, dtype=np.int64)
    names = {0: "background", **{k + 1: n for k, n in enumerate(class_names)}, IGNORE_INDEX: "unsure"}
    return {name: round(float(total[value] / max(1, total.sum())), 4) for value, name in names.items()}
