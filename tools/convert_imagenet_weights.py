"""Turn a torchvision ResNet weights file into the state-dict file the configs read (``pretrained:`` keys).

The reference used torchvision's V1 ImageNet files (IMAGENET1K_V1): resnet50-19c8e357.pth and
resnet101-5d3b4d8f.pth. They are already state dicts; this loads one (or a checkpoint wrapping one
under "state_dict" / "model", "module." prefixes allowed) strictly into the torchvision ResNet of
``--depth``, so that a wrong or broken file fails here, and writes that model's state dict:

    python tools/convert_imagenet_weights.py resnet50-19c8e357.pth weights/resnet50-imagenet.pth --depth resnet50
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import torch
import torchvision

from wsss.checkpoints import load_checked, read_weights
from wsss.errors import ConfigError

WRAPPER_KEYS = ("state_dict", "model")


def unwrap(value: object, source: str | os.PathLike) -> dict[str, torch.Tensor]:
    """The state dict inside ``value``: itself, or under a wrapper key; DataParallel's "module." dropped."""
    for key in WRAPPER_KEYS:
        if isinstance(value, dict) and isinstance(value.get(key), dict):
            value = value[key]
            break
    if not isinstance(value, dict) or not all(isinstance(v, torch.Tensor) for v in value.values()):
        raise ConfigError(f"{source}: no state dict (parameter name -> tensor) found in this file")
    return {k.removeprefix("module."): v for k, v in value.items()}


def convert(source: str | os.PathLike, target: str | os.PathLike, depth: str) -> None:
    """Check ``source`` against torchvision's ``depth`` and write its state dict to ``target``.

    The ImageNet classifier (``fc``) is optional: the backbones never use it.
    """
    net = getattr(torchvision.models, depth)(weights=None)
    load_checked(net, unwrap(read_weights(source), source), source, ("fc.",), f"a torchvision {depth}")
    Path(target).parent.mkdir(parents=True, exist_ok=True)
    torch.save(net.state_dict(), target)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("source", help="torchvision ResNet weights, e.g. resnet50-19c8e357.pth")
    parser.add_argument("target", help="where the configs read it, e.g. weights/resnet50-imagenet.pth")
    parser.add_argument("--depth", default="resnet50", choices=["resnet18", "resnet34", "resnet50", "resnet101"])
    args = parser.parse_args(argv)
    convert(args.source, args.target, args.depth)
    print(f"{args.source} -> {args.target} ({args.depth})")


if __name__ == "__main__":
    main()
