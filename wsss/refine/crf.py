"""Fully connected CRF (pydensecrf) over an image: refining label maps or class probabilities."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from wsss.config import schema_defaults

# The mean of the Caffe-era ImageNet models, B 104.008, G 116.669, R 122.675: deeplab-pytorch's input
# (configs/voc12_imagenet_pretrained.yaml of the CLIMS fork), which its test CRF and CLIP-ES's mask CRF
# (eval_cam_with_crf.py) both subtract from the image they compare colours of.
CAFFE_MEAN_BGR = (104.008, 116.669, 122.675)
CRF_IMAGES = ("rgb", "mean_subtracted_bgr")


@dataclass(frozen=True)
@schema_defaults("crf")
class CRFParams:
    """Kernel settings of the dense CRF; the defaults are the config's ``crf`` section's (the
    reference's cam_to_ir_label values)."""

    iterations: int
    gt_prob: float
    gaussian_sxy: float
    gaussian_compat: float
    bilateral_sxy: float
    bilateral_srgb: float
    bilateral_compat: float


def _crf_marginals(image: np.ndarray, unary: np.ndarray, params: CRFParams) -> np.ndarray:
    """(K, H, W) mean-field marginals for an (H, W, 3) uint8 image and a (K, H*W) unary energy.

    pydensecrf takes only writable buffers, so a read-only image (``np.asarray`` of a PIL image) is
    copied."""
    import pydensecrf.densecrf as dcrf

    height, width = image.shape[:2]
    crf = dcrf.DenseCRF2D(width, height, unary.shape[0])
    crf.setUnaryEnergy(np.ascontiguousarray(unary, dtype=np.float32))
    crf.addPairwiseGaussian(sxy=params.gaussian_sxy, compat=params.gaussian_compat)
    crf.addPairwiseBilateral(
        sxy=params.bilateral_sxy,
        srgb=params.bilateral_srgb,
        rgbim=np.require(image, dtype=np.uint8, requirements=["C", "W"]),
        compat=params.bilateral_compat,
    )
    return np.asarray(crf.inference(params.iterations), dtype=np.float32).reshape(unary.shape[0], height, width)


def crf_refine_labels(image: np.ndarray, labels: np.ndarray, num_labels: int, params: CRFParams) -> np.ndarray:
    """CRF over hard labels 0..num_labels-1 (each trusted with ``gt_prob``), as cam_to_ir_label does.

    A single label (background alone: an image with no class) needs no CRF, and pydensecrf's
    ``unary_from_labels`` would divide by zero: every pixel is 0, as the reference writes it."""
    from pydensecrf.utils import unary_from_labels

    if num_labels == 1:
        return np.zeros(image.shape[:2], dtype=np.uint8)
    unary = unary_from_labels(labels.ravel(), num_labels, gt_prob=params.gt_prob, zero_unsure=False)
    return _crf_marginals(image, unary, params).argmax(axis=0).astype(np.uint8)


def crf_refine_scores(image: np.ndarray, scores: np.ndarray, params: CRFParams) -> np.ndarray:
    """CRF over non-negative (K, H, W) class scores (normalised to probabilities per pixel); argmax labels.

    A single score map (background alone) gives label 0 everywhere without a CRF."""
    if scores.shape[0] == 1:
        return np.zeros(scores.shape[1:], dtype=np.uint8)
    return crf_probabilities(image, per_pixel_probabilities(scores), params).argmax(axis=0).astype(np.uint8)


def per_pixel_probabilities(scores: np.ndarray) -> np.ndarray:
    """Non-negative (K, H, W) scores divided by their sum at each pixel (1e-8 at least)."""
    return scores / np.maximum(scores.sum(axis=0, keepdims=True), 1e-8)


def crf_probabilities(image: np.ndarray, scores: np.ndarray, params: CRFParams) -> np.ndarray:
    """(K, H, W) CRF marginals over (K, H, W) scores read as probabilities as they are: the unary is
    -log(clip(score, 1e-5, 1)), pydensecrf's ``unary_from_softmax``, as CLIP-ES's mask CRF gives it its
    unnormalised [background, CAM] scores. One map (background alone) is certain everywhere."""
    from pydensecrf.utils import unary_from_softmax

    if scores.shape[0] == 1:
        return np.ones(scores.shape, dtype=np.float32)
    unary = unary_from_softmax(np.ascontiguousarray(scores.reshape(scores.shape[0], -1), dtype=np.float32))
    return _crf_marginals(image, unary, params)


def mean_subtracted_bgr_uint8(rgb: np.ndarray, mean_bgr: Sequence[float] = CAFFE_MEAN_BGR) -> np.ndarray:
    """(H, W, 3) uint8: the image in BGR minus ``mean_bgr`` (float32), cast back to uint8 as the fork's
    CRF test and CLIP-ES's mask CRF do (``image.astype(np.uint8)`` of the mean-subtracted image).

    numpy leaves the cast of negative floats to the C compiler; on x86-64 it truncates toward zero
    and wraps modulo 256 (-1.008 -> 255), which is written out here so it holds on every machine."""
    shifted = rgb[:, :, ::-1].astype(np.float32) - np.asarray(mean_bgr, dtype=np.float32)
    return np.ascontiguousarray(np.mod(np.trunc(shifted).astype(np.int64), 256).astype(np.uint8))


def crf_image(rgb: np.ndarray, kind: str) -> np.ndarray:
    """The image a CRF's bilateral kernel compares (``eval_seg.crf_image``, ``refine.crf_image``): ``rgb``
    itself, or the reference's mean-subtracted BGR cast back to uint8 (:func:`mean_subtracted_bgr_uint8`)."""
    if kind not in CRF_IMAGES:
        raise ValueError(f"crf_image must be one of {CRF_IMAGES}, got {kind!r}")
    return rgb if kind == "rgb" else mean_subtracted_bgr_uint8(rgb)
