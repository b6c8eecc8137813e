"""Does CLIP know these classes? Each class's CLIP probability, scored by how well it separates the
images with the class from those without (the AUROC), before anything trains on it.

CLIMS and the CLIP seed sources both stand on CLIP recognising each class. A class CLIP cannot tell apart
gets seeds that follow whatever CLIP does see in those images (CLIMS then does worse than its own
baseline, with no error), so the run names it at the start.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy.stats import rankdata


def class_auroc(probabilities: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """(C,) AUROC of each class's probability over (N, C) ``labels``: the chance that an image with the class
    scores above one without it (ties count half); NaN where every image has the class or none does."""
    result = np.full(labels.shape[1], np.nan)
    for k in range(labels.shape[1]):
        positive = labels[:, k].astype(bool)
        n_pos, n_neg = int(positive.sum()), int((~positive).sum())
        if n_pos and n_neg:
            ranks = rankdata(probabilities[:, k])
            result[k] = (ranks[positive].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg)
    return result


def weak_classes(auroc: np.ndarray, names: Sequence[str], threshold: float) -> list[str]:
    """The classes whose AUROC is below ``threshold`` (a NaN one cannot be judged and is not named)."""
    return [name for name, value in zip(names, auroc) if value < threshold]


def weak_class_warning(name: str, auroc: float, threshold: float, model: str) -> str:
    """What a weak class means for the run, in a sentence for the log and the report."""
    return (
        f"CLIP {model} barely tells class {name!r} apart (AUROC {auroc:.2f} < clip_check.threshold {threshold:g}): "
        "its CLIP-guided seeds (CLIMS, CLIP-ES, MaskCLIP) will follow what CLIP sees instead of the object, and "
        "CLIMS may score below its own baseline on it; give the class a text CLIP knows (classes: {name, text}), "
        "or use a seed source without CLIP for it"
    )
