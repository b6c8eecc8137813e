"""Image-level labels from a frozen CLIP: which of the classes each photo shows, with no annotation.

CLIP reads the whole image (resized to its input, as CLIMS shows it) against one prompt per class and
one per background word; a softmax over all of them (at CLIP's own logit scale) gives each class a
probability. A class is present where its probability reaches the threshold; with ``keep_top`` the most
probable class is present in every image (a folder of photos of the classes, as VOC's images each hold
one), otherwise an image may have none and is read as all background.

The threshold may be one number for every class, or each class's own cut chosen from the photos' scores
alone (:func:`split_thresholds`). CLIP's reward (kept against removed, :mod:`wsss.evaluation.reward`)
cannot choose it: it judges where a class is, not whether it is there (a mask drawn for a class the photo
lacks still wins about as often as a real one's, docs/results.md), so the split reads the scores instead.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import torch

from wsss.errors import ConfigError
from wsss.models.clip_scorer import ClipScorer, openai_clip


def check_prompts(prompts: Sequence[str], names: Sequence[str], key: str, context_length: int) -> list[str]:
    """``prompts``, refused with a ConfigError naming the config ``key`` and the entry whose prompt does not fit
    CLIP's ``context_length`` tokens (the tokenizer would fail on it, or cut it, mid-run)."""
    tokenize = openai_clip().tokenize
    for prompt, name in zip(prompts, names):
        try:
            tokenize([prompt], context_length=context_length)
        except RuntimeError:
            raise ConfigError(
                f"{key}: {name!r} makes the prompt {prompt!r}, longer than the {context_length} tokens CLIP reads: "
                "shorten it (or its synonyms)"
            ) from None
    return list(prompts)


@torch.no_grad()
def class_probabilities(
    scorer: ClipScorer,
    read_image: Callable[[str], np.ndarray],
    image_ids: Sequence[str],
    batch_size: int,
    progress: Callable[[], None] | None = None,
) -> np.ndarray:
    """(N, C) probabilities of the scorer's classes in each image, from a softmax over its class and
    background prompts; ``read_image(id)`` gives an (H, W, 3) uint8 RGB image."""
    texts = torch.cat([scorer.class_features, scorer.background_features])
    logit_scale = scorer.model.logit_scale.exp().float()
    rows = []
    for start in range(0, len(image_ids), batch_size):
        views = []
        for image_id in image_ids[start : start + batch_size]:
            image = torch.from_numpy(read_image(image_id)).permute(2, 0, 1)[None].float().div(255)
            views.append(scorer.prepare(image.to(scorer.device), torch.ones_like(image[:, :1]).to(scorer.device)))
            if progress is not None:
                progress()
        features = scorer.encode_images(torch.cat(views))
        logits = logit_scale * (features.float() @ texts.float().T)
        rows.append(logits.softmax(dim=-1)[:, : len(scorer.class_features)].cpu())
    return torch.cat(rows).numpy() if rows else np.zeros((0, len(scorer.class_features)), dtype=np.float32)


def split_thresholds(probabilities: np.ndarray, floor: float = 1e-4) -> np.ndarray:
    """(C,) each class's threshold: the cut of its (N, C) ``probabilities``, read as log-odds (clipped at
    ``floor`` and 1 - ``floor``), into the two groups farthest apart for their size (Otsu's criterion: the
    largest between-group variance), placed halfway between the groups' nearest log-odds.

    Photos with a class and photos without it form two clusters of log-odds whenever CLIP tells the class
    apart; the cut between them needs no annotation. A class whose photos all score the same gets a
    threshold above 1 (nothing passes it)."""
    thresholds = np.full(probabilities.shape[1], 2.0)
    for k in range(probabilities.shape[1]):
        clipped = np.clip(probabilities[:, k].astype(np.float64), floor, 1.0 - floor)
        values = np.sort(np.log(clipped) - np.log1p(-clipped))
        if len(values) < 2 or values[0] == values[-1]:
            continue
        below = np.arange(1, len(values))
        sums = np.cumsum(values)[:-1]
        mean_below = sums / below
        mean_above = (values.sum() - sums) / (len(values) - below)
        spread = below * (len(values) - below) * (mean_above - mean_below) ** 2
        spread[values[1:] == values[:-1]] = -1.0  # a cut must fall between two different scores
        cut = int(np.argmax(spread))
        thresholds[k] = 1.0 / (1.0 + np.exp(-(values[cut] + values[cut + 1]) / 2))
    return thresholds


def label_thresholds(probabilities: np.ndarray, setting: float | str) -> np.ndarray:
    """(C,) the threshold of each class that config ``folder.label_threshold`` (a number, or ``"split"``)
    gives for these (N, C) probabilities."""
    if setting == "split":
        return split_thresholds(probabilities)
    return np.full(probabilities.shape[1], float(setting))


def labels_from_probabilities(probabilities: np.ndarray, threshold: float | np.ndarray, keep_top: bool) -> np.ndarray:
    """(N, C) bool labels: the classes whose probability reaches ``threshold`` (one for all, or (C,) one per
    class), and with ``keep_top`` each image's most probable class as well."""
    labels = probabilities >= threshold
    if keep_top and len(probabilities):
        labels[np.arange(len(probabilities)), probabilities.argmax(axis=1)] = True
    return labels


def precision_recall(predicted: np.ndarray, truth: np.ndarray) -> dict[str, np.ndarray]:
    """Per class precision and recall (NaN where undefined) and counts of predicted labels against true ones."""
    hits = (predicted & truth).sum(axis=0)
    said, present = predicted.sum(axis=0), truth.sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        return {
            "precision": np.where(said > 0, hits / np.maximum(said, 1), np.nan),
            "recall": np.where(present > 0, hits / np.maximum(present, 1), np.nan),
            "predicted": said,
            "present": present,
        }


def micro_precision_recall(predicted: np.ndarray, truth: np.ndarray) -> dict[str, float]:
    """Precision, recall and F1 of (N, C) ``predicted`` labels against ``truth``, every label counted once."""
    hits = int((predicted & truth).sum())
    precision, recall = hits / max(1, int(predicted.sum())), hits / max(1, int(truth.sum()))
    return {"precision": precision, "recall": recall, "f1": 2 * precision * recall / max(precision + recall, 1e-12)}
