"""Dataset archives fetched from their published addresses, verified, and unpacked all or nothing.

The download and unpacking are torchvision's (``torchvision.datasets.utils``: ``download_url``,
``calculate_md5``, ``extract_archive``). torchvision's download does not resume, so an interrupted
one restarts cleanly: the bytes go to ``<archive>.part``, which is checked (size, then md5) and
only then renamed to the archive; a short or wrong file is deleted, saying so, and the next run
starts it again. An archive is unpacked into ``<folder>.unpacking`` beside the configured folder
and renamed into place only once complete, so a half-unpacked folder is never taken for a dataset.
"""

from __future__ import annotations

import http.client
import logging
import os
import shutil
import urllib.error
from pathlib import Path

from wsss.errors import DatasetError

log = logging.getLogger(__name__)

# Free space asked for before a download: the archive and, beside it, its unpacked files.
SPACE_FACTOR = 2


def gigabytes(size: int) -> str:
    return f"{size / 1e9:.1f} GB"


def check_free_space(folder: str | os.PathLike, archive_bytes: int, name: str) -> None:
    """Stop before downloading ``name`` when ``folder``'s disk cannot hold it and its unpacked files."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    free = shutil.disk_usage(folder).free
    needed = SPACE_FACTOR * archive_bytes
    if free < needed:
        raise DatasetError(
            f"{folder}: {name} is {gigabytes(archive_bytes)}, and unpacking it needs about {gigabytes(needed)} "
            f"free in all, but the disk has {gigabytes(free)} free; free some space or set fetch.archives "
            "and the dataset folders on a larger disk"
        )


def fetch_archive(url: str, archive: str | os.PathLike, size: int, md5: str | None = None) -> None:
    """Download ``url`` to ``archive`` and check its ``size`` (bytes) and ``md5`` (if given).

    A connection that drops halfway leaves a short ``.part`` file: it is deleted and the error says
    so (the next run downloads the archive again from the start). A checksum that differs deletes
    the download too: a mirror that serves other bytes is never unpacked.
    """
    from torchvision.datasets.utils import calculate_md5, download_url

    archive = Path(archive)
    check_free_space(archive.parent, size, archive.name)
    partial = archive.with_name(archive.name + ".part")
    partial.unlink(missing_ok=True)  # an earlier attempt's bytes: start again
    log.info("downloading %s (%s) -> %s", url, gigabytes(size), archive)
    try:
        download_url(url, str(partial.parent), partial.name)
    except (urllib.error.URLError, http.client.HTTPException, OSError) as error:
        partial.unlink(missing_ok=True)
        raise DatasetError(
            f"{url}: the download of {archive.name} failed ({error}); the partial file was deleted, "
            "run again to start it over (or set fetch.sources to a mirror)"
        ) from None
    found = partial.stat().st_size
    if found != size:
        partial.unlink()
        raise DatasetError(
            f"{url}: got {found} bytes of {archive.name}, expected {size} (the connection dropped, or the "
            "server sent another file); the partial file was deleted, run again to start it over"
        )
    if md5:
        digest = calculate_md5(partial)
        if digest != md5:
            partial.unlink()
            raise DatasetError(
                f"{url}: {archive.name} has md5 {digest}, expected {md5}; the file was deleted. A mirror "
                "serving another file, or a damaged transfer: check fetch.sources and run again"
            )
    os.replace(partial, archive)
    log.info("%s: %d bytes%s", archive, size, f", md5 {md5}" if md5 else "")


def unpack_archives(archives: list[str | os.PathLike], inside: str, folder: str | os.PathLike) -> None:
    """Unpack ``archives`` together and make their ``inside`` folder ("" for the top) ``folder``.

    Everything is unpacked into ``<folder>.unpacking`` first (an earlier, interrupted one is
    removed) and renamed to ``folder`` only once every archive is unpacked.
    """
    from torchvision.datasets.utils import extract_archive

    folder = Path(folder)
    staging = folder.with_name(folder.name + ".unpacking")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    for archive in archives:
        log.info("unpacking %s into %s", archive, staging)
        extract_archive(str(archive), str(staging))
    unpacked = staging / inside
    if not unpacked.is_dir():
        found = sorted(path.name for path in staging.iterdir())
        shutil.rmtree(staging)
        raise DatasetError(
            f"{', '.join(map(str, archives))}: holds no folder {inside!r} (found {found}); not the archive "
            "this dataset is published as"
        )
    if folder.exists():
        shutil.rmtree(staging, ignore_errors=True)  # the unpacked copy is not kept beside it
        raise DatasetError(f"{folder}: exists already; not replaced by the unpacked {inside or 'archives'}")
    os.replace(unpacked, folder)
    shutil.rmtree(staging, ignore_errors=True)
    log.info("%s: unpacked from %s", folder, ", ".join(map(str, archives)))
