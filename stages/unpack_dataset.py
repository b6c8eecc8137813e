"""Stage: a dataset folder unpacked from its downloaded archives, renamed into place only when complete."""

from wsss.data.download import unpack_archives
from wsss.stage import run_stage


def unpack_dataset(archives: list[str], folder: str, inside: str = "") -> None:
    """Unpack ``archives`` beside ``folder`` and rename their ``inside`` folder to it."""
    unpack_archives(list(archives), inside, folder)


if __name__ == "__main__":
    run_stage(unpack_dataset, globals().get("snakemake"))
