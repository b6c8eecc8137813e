"""Stage: the segmenter evaluation's shards gathered: their predictions in one folder, their counts in one report."""

import logging

from wsss.evaluation.segmenter_counts import load_counts, sum_counts, write_segmenter_report
from wsss.sharding import gather_folders
from wsss.stage import run_stage

log = logging.getLogger("eval_seg")


def gather_eval_seg(shard_predictions: list, shard_counts: list, predictions: str, report: str, table: str) -> None:
    """Sum the shards' confusion matrices and leak counts into ``report``/``table``; gather ``predictions``."""
    counts = sum_counts([load_counts(path) for path in shard_counts], [str(path) for path in shard_counts])
    gather_folders(list(shard_predictions), predictions)
    write_segmenter_report(counts, report, table)
    log.info(
        "evaluated %d images in %.1f s (%d shards) -> %s",
        counts.meta["images"],
        counts.meta["seconds"],
        len(shard_counts),
        report,
    )


if __name__ == "__main__":
    run_stage(gather_eval_seg, globals().get("snakemake"))
