"""ImageNet ResNet weights by name (``torchvision:resnet50.IMAGENET1K_V1``), fetched through torchvision.

A ``pretrained:`` key holds a file path or such a name. A name is read through torchvision's weights
API, which downloads the file once into torch.hub's cache (``$TORCH_HOME/hub/checkpoints``, by
default ``~/.cache/torch/hub/checkpoints``), writing it under a temporary name and checking the
sha256 prefix in its file name before moving it into place; a dropped connection leaves nothing
half-written, and the next run downloads it again from the start. Reading a name returns the
cached file's path, so every reader checks it exactly as a file given by path.

This module imports no torch unless a name is resolved: the workflow's parse (which lists, for an
offline machine, the cache files that must be put in place) reads the names' file names from
:data:`CACHE_FILES`, which a test keeps equal to torchvision's own.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from wsss.errors import ConfigError

PREFIX = "torchvision:"
URL_FOLDER = "https://download.pytorch.org/models/"
# name -> the file torchvision downloads for it (the basename of its weights' url).
CACHE_FILES = {
    "resnet18.IMAGENET1K_V1": "resnet18-f37072fd.pth",
    "resnet34.IMAGENET1K_V1": "resnet34-b627a593.pth",
    "resnet50.IMAGENET1K_V1": "resnet50-0676ba61.pth",
    "resnet50.IMAGENET1K_V2": "resnet50-11ad3fa6.pth",
    "resnet101.IMAGENET1K_V1": "resnet101-63fe2227.pth",
    "resnet101.IMAGENET1K_V2": "resnet101-cd907fc2.pth",
}

log = logging.getLogger("run")


def is_named(pretrained: object) -> bool:
    """Whether a ``pretrained:`` value names torchvision weights rather than a file."""
    return isinstance(pretrained, str) and pretrained.startswith(PREFIX)


def weights_name(pretrained: str) -> str:
    """The ``<architecture>.<tag>`` of a name, refused with the known names when torchvision has no such file."""
    name = pretrained.removeprefix(PREFIX)
    if name not in CACHE_FILES:
        raise ConfigError(
            f"pretrained {pretrained}: not a torchvision ImageNet ResNet this pipeline reads; "
            f"known: {', '.join(PREFIX + known for known in CACHE_FILES)}"
        )
    return name


def hub_checkpoints() -> Path:
    """torch.hub's download folder, found as ``torch.hub.get_dir`` finds it (without importing torch)."""
    torch_home = os.getenv("TORCH_HOME", os.path.join(os.getenv("XDG_CACHE_HOME", "~/.cache"), "torch"))
    return Path(os.path.expanduser(torch_home)) / "hub" / "checkpoints"


def cache_file(pretrained: str) -> Path:
    """Where torchvision keeps (or will download) the file of a name."""
    return hub_checkpoints() / CACHE_FILES[weights_name(pretrained)]


def source_url(pretrained: str) -> str:
    """The address torchvision downloads a name's file from."""
    return URL_FOLDER + CACHE_FILES[weights_name(pretrained)]


def weights_file(pretrained: str | os.PathLike) -> str:
    """The file to read for a ``pretrained:`` value: a path as it is; a name's cached file, downloaded
    through torchvision first if missing. A name's file and sha256 go into the stage's run record."""
    if not is_named(pretrained):
        return str(pretrained)
    import torchvision

    from wsss.checkpoints import file_sha256

    architecture, tag = weights_name(str(pretrained)).split(".")
    weights = torchvision.models.get_model_weights(architecture)[tag]
    path = cache_file(str(pretrained))
    if not path.is_file():
        log.info("%s: downloading %s into %s", pretrained, weights.url, path.parent)
        weights.get_state_dict(progress=False, check_hash=True)  # torch.hub: a temporary file, then moved
    log.info("%s: %s", pretrained, {"file": str(path), "sha256": file_sha256(path)})
    return str(path)
