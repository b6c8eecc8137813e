"""Stage: the VOC 2012 + SBD training root (train_aug split, SegmentationClassAug masks) from the user's devkits."""

import logging
import time

from wsss.data.prepare.voc_sbd import prepare_voc_sbd
from wsss.io import write_json
from wsss.stage import run_stage

log = logging.getLogger("prepare_voc_sbd")


def prepare_voc_sbd_stage(
    voc_root: str,
    sbd_root: str,
    root: str,
    summary: str,
    expected_counts: dict | None = None,
    convert_sbd_masks: bool = True,
) -> None:
    """Check the devkits, then write the prepared root (links to the VOC folders, masks, split files)."""
    start = time.perf_counter()
    result = prepare_voc_sbd(voc_root, sbd_root, root, expected_counts, convert_sbd_masks)
    write_json(summary, result)
    log.info(
        "train_aug %d, train %d, val %d ids; masks: %d from VOC, %d converted from SBD (%.0f s) -> %s",
        result["splits"]["train_aug"],
        result["splits"]["train"],
        result["splits"]["val"],
        result["masks"]["from_voc"],
        result["masks"]["from_sbd"],
        time.perf_counter() - start,
        root,
    )


if __name__ == "__main__":
    run_stage(prepare_voc_sbd_stage, globals().get("snakemake"))
