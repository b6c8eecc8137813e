"""Per-image stages split into shards by image id, and the shards' folders gathered into one.

A shard's members depend on nothing but the sorted image ids: the i-th id of the sorted list
goes to shard ``i % count``. Each shard writes its own folder (its own Snakemake job, so a
cluster spreads them over nodes and GPUs); :func:`gather_folders` then links their files into
the folder the unsharded stage writes, so nothing downstream sees the difference.
"""

from __future__ import annotations

import filecmp
import logging
import os
import shutil
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TypeVar

from wsss.io import atomic_directory

log = logging.getLogger("sharding")
Item = TypeVar("Item")


def check_shard(shard: int, count: int) -> None:
    if count < 1 or not 0 <= shard < count:
        raise ValueError(f"shard {shard} of {count}: needs 0 <= shard < count and count >= 1")


def shard_members(ids: Iterable[str], shard: int, count: int) -> set[str]:
    """The ids of shard ``shard`` of ``count``: the i-th of the sorted distinct ids is in shard i % count."""
    check_shard(shard, count)
    return {image_id for i, image_id in enumerate(sorted(set(ids))) if i % count == shard}


def select_shard(items: Sequence[Item], ids: Sequence[str], shard: int, count: int) -> list[Item]:
    """The ``items`` (``ids[k]`` the id of ``items[k]``) of one shard, in their given order."""
    members = shard_members(ids, shard, count)
    return [item for item, image_id in zip(items, ids, strict=True) if image_id in members]


def _link_or_copy(source: Path, target: Path) -> None:
    try:
        os.link(source, target)
    except OSError:  # another file system, or one without hard links
        shutil.copyfile(source, target)


def gather_folders(shards: Sequence[str | os.PathLike], output: str | os.PathLike) -> int:
    """Write ``output`` (atomically) holding every file of the ``shards`` folders; return the file count.

    Files are hard-linked where the file system allows it (no second copy of a CAM folder), else
    copied. A name found in several shards must have the same bytes in each (the README every
    shard writes); two different files of one name are an error, as is a sub-folder.
    """
    sources: dict[str, Path] = {}
    for shard in shards:
        for path in sorted(Path(shard).iterdir()):
            if not path.is_file():
                raise ValueError(f"{path}: a shard folder holds only files")
            first = sources.setdefault(path.name, path)
            if first is not path and not filecmp.cmp(first, path, shallow=False):
                raise ValueError(f"{first} and {path}: two shards wrote different files of one name")
    with atomic_directory(output) as folder:
        for name, path in sources.items():
            _link_or_copy(path, folder / name)
    log.info("gathered %d files of %d shards -> %s", len(sources), len(shards), output)
    return len(sources)
