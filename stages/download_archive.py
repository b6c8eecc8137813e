"""Stage: one published dataset archive downloaded and checked (size, md5) before anything unpacks it."""

from wsss.data.download import fetch_archive
from wsss.stage import run_stage


def download_archive(archive: str, url: str, size: int, md5: str | None = None) -> None:
    """Download ``url`` to ``archive``; a short or wrong file is deleted and the stage fails saying so."""
    fetch_archive(url, archive, size, md5)


if __name__ == "__main__":
    run_stage(download_archive, globals().get("snakemake"))
