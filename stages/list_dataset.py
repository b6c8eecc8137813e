"""Stage: list the files of one part of one split (names, sizes, times) for the rules that read them."""

from wsss.data.file_listing import listing_text
from wsss.io import write_text
from wsss.stage import run_stage


def list_dataset(root: str, manifest: str, listing: str, split: str, part: str) -> None:
    """Write ``listing``: ``part`` (images, labels or masks) of ``split`` of the dataset at ``root``."""
    write_text(listing, listing_text(root, manifest, split, part))


if __name__ == "__main__":
    run_stage(list_dataset, globals().get("snakemake"))
