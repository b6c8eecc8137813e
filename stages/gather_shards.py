"""Stage: gather the shard folders of a per-image stage (make_cam, ir_label, make_pseudo_labels) into one."""

from wsss.sharding import gather_folders
from wsss.stage import run_stage


def gather_shards(shards: list, folder: str) -> None:
    """Write ``folder`` with every file of the ``shards`` folders (hard links where possible)."""
    gather_folders(list(shards), folder)


if __name__ == "__main__":
    run_stage(gather_shards, globals().get("snakemake"))
