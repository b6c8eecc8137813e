"""A reward that needs no annotation: does a class's mask keep what CLIP calls the class? (PnP-OVSS.)

For each class of an image, CLIP reads the image with the class's mask kept (black elsewhere) and with it
removed; the mask wins when CLIP's probability for the class is higher with it kept. As PnP-OVSS's
``get_clipsim_for_pnmask`` (letitiabanana/PnP-OVSS), the probability is a softmax at CLIP's logit scale
over the image's own classes, and a setting's reward is its count of wins over a sample of images. With
one class that softmax is 1 either way and says nothing, so the softmax may also take the background
words (``image_classes_and_background``, the default) or every class (``all_classes_and_background``).

Here the reward chooses the refinement's settings without masks: the CRF's background (the plane's
threshold, or the power background's alpha) and its confidence, each candidate's pseudo-labels rewarded
on the same images.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import torch

from wsss.models.clip_scorer import ClipScorer
from wsss.refine.cam_to_labels import CamLabelJob, crf_scores, labels_from_marginals, read_job
from wsss.refine.crf import CRFParams, crf_image, crf_probabilities

SOFTMAX_OVER = ("image_classes", "image_classes_and_background", "all_classes_and_background")


@torch.no_grad()
def kept_and_removed(
    scorer: ClipScorer,
    image: np.ndarray,
    masks: np.ndarray,
    classes: Sequence[int],
    softmax_over: str = "image_classes_and_background",
    batch_size: int = 32,
) -> tuple[np.ndarray, np.ndarray]:
    """CLIP's probability of each mask's class with the mask kept and with it removed: (M,) each.

    ``image`` (H, W, 3) uint8; ``masks`` (M, H, W) bool, mask m of 0-based class ``classes[m]``; the softmax
    runs over the texts ``softmax_over`` names (:data:`SOFTMAX_OVER`); ``batch_size`` views per CLIP pass."""
    if softmax_over not in SOFTMAX_OVER:
        raise ValueError(f"softmax_over must be one of {SOFTMAX_OVER}, got {softmax_over!r}")
    own = list(range(len(scorer.class_features))) if softmax_over.startswith("all") else sorted(set(classes))
    texts = scorer.class_features[own]
    if softmax_over.endswith("background"):
        texts = torch.cat([texts, scorer.background_features])
    rgb = torch.from_numpy(image).permute(2, 0, 1)[None].float().div(255).to(scorer.device)
    kept = torch.from_numpy(masks[:, None]).float()
    logit_scale = scorer.model.logit_scale.exp().float()
    probabilities = []
    for views in torch.cat([kept, 1.0 - kept]).split(batch_size):
        inputs = scorer.prepare(rgb.expand(len(views), -1, -1, -1), views.to(scorer.device))
        logits = logit_scale * (scorer.encode_images(inputs).float() @ texts.float().T)
        probabilities.append(logits.softmax(dim=-1).cpu())
    table = torch.cat(probabilities).numpy()
    column = np.array([own.index(k) for k in classes], dtype=np.int64)
    rows = np.arange(len(masks))
    return table[rows, column], table[len(masks) + rows, column]


def mask_wins(
    scorer: ClipScorer,
    image: np.ndarray,
    label_maps: Sequence[np.ndarray],
    keys: np.ndarray,
    softmax_over: str = "image_classes_and_background",
    batch_size: int = 32,
) -> np.ndarray:
    """(L, K) bool: whether class ``keys[k]``'s mask in label map l (label value k + 1) wins, one CLIP pass
    over all maps and classes of the image. An empty mask keeps nothing of the class and never wins (CLIP
    might still prefer the black image it keeps to the image without it)."""
    keys = np.asarray(keys, dtype=np.int64)
    if not len(label_maps) or not len(keys):
        return np.zeros((len(label_maps), len(keys)), dtype=bool)
    masks = np.stack([labels == key + 1 for labels in label_maps for key in keys])
    classes = [int(key) for _ in label_maps for key in keys]
    kept, removed = kept_and_removed(scorer, image, masks, classes, softmax_over, batch_size)
    return ((kept > removed) & masks.any(axis=(1, 2))).reshape(len(label_maps), len(keys))


@dataclass(frozen=True)
class RefineCandidate:
    """One setting of the CRF refinement the reward judges: its background value and its confidence."""

    background: str  # threshold or power (refine.background)
    value: float  # bg_threshold (threshold) or alpha (power)
    confidence: float

    @property
    def overrides(self) -> dict[str, float]:
        """The refine keys this candidate sets."""
        key = "bg_threshold" if self.background == "threshold" else "alpha"
        return {key: self.value, "confidence": self.confidence}


def refine_candidates(
    background: str, bg_thresholds: Sequence[float], alphas: Sequence[float], confidences: Sequence[float]
) -> list[RefineCandidate]:
    """Every pair of a background value (thresholds for the plane, alphas for the power background) and a
    confidence, in grid order (values outer)."""
    values = bg_thresholds if background == "threshold" else alphas
    return [RefineCandidate(background, float(v), float(c)) for v, c in itertools.product(values, confidences)]


def candidate_label_maps(
    rgb: np.ndarray,
    cam: np.ndarray,
    keys: np.ndarray,
    candidates: Sequence[RefineCandidate],
    params: CRFParams,
    image_kind: str = "rgb",
) -> list[np.ndarray]:
    """The pseudo-labels each candidate gives one image (as :func:`~wsss.refine.cam_to_labels.crf_pseudo_labels`),
    one CRF per background value shared by its confidences."""
    image = crf_image(rgb, image_kind)
    marginals: dict[float, np.ndarray] = {}
    maps = []
    for candidate in candidates:
        if candidate.value not in marginals:
            scores = crf_scores(cam, candidate.background, candidate.value, candidate.value)
            marginals[candidate.value] = crf_probabilities(image, scores, params)
        maps.append(labels_from_marginals(marginals[candidate.value], keys, candidate.confidence))
    return maps


def best_candidate(wins: Sequence[int]) -> int:
    """The index with the most wins; among tied indices the middle one (the middle of the tie's range)."""
    wins = np.asarray(wins)
    tied = np.flatnonzero(wins == wins.max())
    return int(tied[(len(tied) - 1) // 2])


def candidate_table(
    candidates: Sequence[RefineCandidate], wins: np.ndarray, pairs: int, mious: Mapping[int, float] | None = None
) -> list[dict]:
    """One row per candidate for the report: its settings, wins, win rate and (where masks exist) mIoU."""
    rows = []
    for index, candidate in enumerate(candidates):
        row = {
            **candidate.overrides,
            "wins": int(wins[index]),
            "win_rate": round(float(wins[index]) / max(pairs, 1), 4),
        }
        if mious is not None:
            row["mIoU"] = mious[index]
        rows.append(row)
    return rows


def job_candidate_maps(
    job: CamLabelJob, candidates: Sequence[RefineCandidate], params: CRFParams, image_kind: str = "rgb"
) -> tuple[np.ndarray, np.ndarray, list[np.ndarray]]:
    """One image's RGB, CAM keys and :func:`candidate_label_maps` (for :func:`wsss.parallel.map_in_processes`)."""
    rgb, record = read_job(job)
    return rgb, record.keys, candidate_label_maps(rgb, record.cam, record.keys, candidates, params, image_kind)
