"""The segmenter evaluation's sums: what each shard of eval_seg writes, and the report they add up to.

A shard predicts its images and keeps, per test mode, the confusion matrix and (where the
dataset has background-region maps) the co-occurring-background leak counts. These are sums
over images, so the shards' counts added together are exactly the counts of one unsharded run,
and the report is computed once from them.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from wsss.evaluation.label_eval import LeakCounter
from wsss.evaluation.metrics import format_table, scores_from_confusion
from wsss.io import atomic_path, write_json, write_text

log = logging.getLogger("eval_seg")
# Meta entries every shard of one evaluation must agree on.
SHARED_META = ("split", "checkpoint", "backbone_init", "headline", "modes", "title", "class_names")


@dataclass
class SegmenterCounts:
    """``meta``: split, checkpoint, backbone_init, headline, modes, title, class_names, images, seconds;
    ``confusion``: (modes, C+1, C+1) int64; ``leak_hits``/``leak_total``: (modes, C) int64 or None."""

    meta: dict
    confusion: np.ndarray
    leak_hits: np.ndarray | None = None
    leak_total: np.ndarray | None = None


def counts_from(meta: dict, confusions: dict, leaks: dict | None) -> SegmenterCounts:
    """Pack the per-mode confusion matrices and :class:`LeakCounter` s (keyed by ``meta['modes']``)."""
    modes = meta["modes"]
    return SegmenterCounts(
        meta,
        np.stack([confusions[mode] for mode in modes]).astype(np.int64),
        np.stack([leaks[mode].hits for mode in modes]) if leaks is not None else None,
        np.stack([leaks[mode].total for mode in modes]) if leaks is not None else None,
    )


def save_counts(path: str | os.PathLike, counts: SegmenterCounts) -> None:
    """One small uncompressed .npz: the arrays and the meta as JSON text (no pickled objects)."""
    arrays = {"meta": np.array(json.dumps(counts.meta, sort_keys=True)), "confusion": counts.confusion}
    if counts.leak_hits is not None:
        arrays.update(leak_hits=counts.leak_hits, leak_total=counts.leak_total)
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as handle:
            np.savez(handle, **arrays)


def load_counts(path: str | os.PathLike) -> SegmenterCounts:
    with np.load(path, allow_pickle=False) as data:
        leak = "leak_hits" in data.files
        return SegmenterCounts(
            json.loads(str(data["meta"])),
            data["confusion"].astype(np.int64),
            data["leak_hits"].astype(np.int64) if leak else None,
            data["leak_total"].astype(np.int64) if leak else None,
        )


def sum_counts(shards: Sequence[SegmenterCounts], names: Sequence[str] = ()) -> SegmenterCounts:
    """The counts of all shards together (images and seconds added); shards must agree on the rest."""
    if not shards:
        raise ValueError("no eval_seg shards to gather")
    first = shards[0].meta
    for counts, name in zip(shards, list(names) or [str(k) for k in range(len(shards))]):
        differ = [key for key in SHARED_META if counts.meta.get(key) != first.get(key)]
        if differ or (counts.leak_hits is None) != (shards[0].leak_hits is None):
            raise ValueError(f"{name}: an eval_seg shard of another evaluation (differs in {differ or 'leak counts'})")
    meta = dict(first)
    meta["images"] = sum(counts.meta["images"] for counts in shards)
    meta["seconds"] = sum(counts.meta["seconds"] for counts in shards)
    leak = shards[0].leak_hits is not None
    return SegmenterCounts(
        meta,
        np.sum([counts.confusion for counts in shards], axis=0),
        np.sum([counts.leak_hits for counts in shards], axis=0) if leak else None,
        np.sum([counts.leak_total for counts in shards], axis=0) if leak else None,
    )


def write_segmenter_report(counts: SegmenterCounts, report: str | os.PathLike, table: str | os.PathLike) -> dict:
    """The report JSON (scores per mode, the headline named) and its text table; returns the JSON's dict."""
    meta = counts.meta
    class_names = list(meta["class_names"])
    names = ["background", *class_names]
    result = {
        "split": meta["split"],
        "images": meta["images"],
        "checkpoint": meta["checkpoint"],
        "backbone_init": meta["backbone_init"],
        "headline": meta["headline"],
        "modes": {},
    }
    text = ""
    for m, mode in enumerate(meta["modes"]):
        scores = scores_from_confusion(counts.confusion[m], names)
        result["modes"][mode] = scores
        text += format_table(
            scores,
            f"{meta['title']} on {meta['split']} ({meta['images']} images), {mode}"
            + (" [headline]" if mode == meta["headline"] else ""),
        )
        if counts.leak_hits is not None:
            leaks = LeakCounter(np.zeros(len(class_names), dtype=np.int64))
            leaks.hits, leaks.total = counts.leak_hits[m], counts.leak_total[m]
            leak = leaks.report(class_names)
            scores["cooccurring_background_labelled_as_object"] = leak
            text += f"co-occurring background labelled as the object: {leak['overall']:.2%}\n"
        text += "\n"
        log.info("%s: mIoU %.2f", mode, scores["summary"]["mIoU"])
    result["seconds"] = round(meta["seconds"], 1)
    write_json(report, result)
    write_text(table, text)
    return result
