"""What a rule reads of a dataset, written down as file names, sizes and modification times.

Snakemake compares a folder given as input by its own time stamp, which replacing a JPEG, editing an
XML or dropping an id from a split file leaves alone. The workflow therefore gives every rule that
reads the dataset the listings of the split files it reads (one per split and part: images, labels,
masks). A listing is rewritten only when what it lists changed, so such an edit reruns exactly the
rules that read the changed part, and the dry run names the listing as the reason.
"""

from __future__ import annotations

import os
from pathlib import Path

from wsss.data.manifest import DatasetManifest
from wsss.data.voc_dataset import read_split_ids
from wsss.errors import DatasetError
from wsss.io import write_text

PARTS = ("images", "labels", "masks")
HEADER = "# path\tbytes\tmodified_ns (a changed line reruns the rules that read this part of the split)\n"


def listing_path(folder: str, split: str, part: str) -> str:
    """Where the listing of one part of one split lives (the workflow's ``{split}.{part}.tsv``)."""
    return f"{folder}/{split}.{part}.tsv"


def part_file(manifest: DatasetManifest, image_id: str, part: str) -> str:
    """The file, relative to the dataset root, that holds ``part`` of ``image_id``.

    Labels are the XML annotations or the masks, whichever the manifest reads them from."""
    if part == "images":
        return f"{manifest.image_dir}/{image_id}{manifest.image_suffix}"
    if part == "masks" or (part == "labels" and manifest.labels_from == "masks"):
        return f"{manifest.mask_dir}/{image_id}.png"
    if part == "labels":
        return f"{manifest.annotation_dir}/{image_id}.xml"
    raise ValueError(f"unknown dataset part {part!r} (one of {', '.join(PARTS)})")


def _stat_line(root: Path, relative: str) -> str:
    try:
        stat = os.stat(root / relative)
    except OSError:
        return f"{relative}\tmissing\t-\n"
    return f"{relative}\t{stat.st_size}\t{stat.st_mtime_ns}\n"


def listing_text(root: str | os.PathLike, manifest: str | os.PathLike, split: str, part: str) -> str:
    """The listing of ``part`` of ``split``: the split file's line, then one line per id, in split order.

    A split file that cannot be read gives a listing holding its error (then the stages that read the
    split run again and fail on it, naming the file)."""
    root = Path(root)
    description = DatasetManifest.load(manifest)
    split_file = f"{description.split_dir}/{split}.txt"
    lines = [HEADER, _stat_line(root, split_file)]
    try:
        ids = read_split_ids(root / split_file)
    except DatasetError as error:
        return "".join(lines) + f"# unreadable: {error}\n"
    lines += [_stat_line(root, part_file(description, image_id, part)) for image_id in ids]
    return "".join(lines)


def _entries(text: str) -> dict[str, str]:
    return {line.split("\t", 1)[0]: line for line in text.splitlines() if line and not line.startswith("#")}


def describe_changes(before: str, after: str) -> str:
    """What differs between two listings, in a line: counts of changed, added and removed files, with
    the first of each named."""
    old, new = _entries(before), _entries(after)
    kinds = {
        "changed": [name for name in new if name in old and new[name] != old[name]],
        "added": [name for name in new if name not in old],
        "removed": [name for name in old if name not in new],
    }
    parts = [f"{len(names)} {kind} (first: {names[0]})" for kind, names in kinds.items() if names]
    return ", ".join(parts) or "its split file could not be read"


def refresh_listing(path: str | os.PathLike, root: str | os.PathLike, manifest: str, split: str, part: str) -> str:
    """Rewrite the listing at ``path`` if the dataset no longer matches it; say what changed ("" if
    nothing did, or if the dataset is not there yet: the rule that writes it, then the listing, runs)."""
    path = Path(path)
    if not Path(root).is_dir() or not path.is_file():
        return ""
    current = listing_text(root, manifest, split, part)
    before = path.read_text()
    if current == before:
        return ""
    write_text(path, current)
    return f"{path.name}: {describe_changes(before, current)}"
