"""Checkpoints and weight files: saving and loading model state, and the checks that name a bad file.

torch's own messages (an unpickling error, a wall of key names, or nothing at all under
``strict=False``) do not say which file of a run is at fault; these checks do, before training
starts. The fingerprints here identify a run's inputs so that resumable training never continues
from a state built on other inputs. Everything that reads or writes model files sits above this module.
"""

from __future__ import annotations

import hashlib
import logging
import os
import pickle
import re
import zipfile
from collections.abc import Mapping
from pathlib import Path

import torch
import torchvision

from wsss.errors import ConfigError
from wsss.io import atomic_path

log = logging.getLogger(__name__)

SHOWN = 5  # keys listed per kind of problem
# Files written before torch 0.4.1 (torchvision's V1 ImageNet ResNets) lack these; BatchNorm fills them in.
FILLED_BY_TORCH = (".num_batches_tracked",)


def read_weights(path: str | os.PathLike) -> object:
    """``torch.load`` (weights only, on the CPU) of ``path``; a missing or unreadable file is a ConfigError."""
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise ConfigError(f"{path}: weights file is missing") from None
    except (RuntimeError, EOFError, OSError, pickle.UnpicklingError, zipfile.BadZipFile, ValueError) as exc:
        found = unsupported_global(exc)
        if found:  # a pickle of other objects (a code payload, say): never unpickled, so nothing in it ran
            raise ConfigError(
                f"{path}: not a weights file or checkpoint of this pipeline: it pickles Python objects besides "
                f"tensors ({found}), refused as loading them could run code"
            ) from None
        raise ConfigError(
            f"{path}: not a readable PyTorch weights file, truncated or of another kind ({type(exc).__name__}: {exc})"
        ) from None


def unsupported_global(exc: BaseException) -> str | None:
    """The object (``module.name``) a weights-only ``torch.load`` refused to unpickle, if that is why it failed."""
    found = re.search(r"unsupported global:?\s*(?:GLOBAL\s+)?(\S+)", str(exc), re.IGNORECASE)
    return found.group(1) if found else None


def read_state_dict(path: str | os.PathLike) -> dict[str, torch.Tensor]:
    """A file holding a plain state dict (name -> tensor), such as a torchvision ImageNet ResNet."""
    state = read_weights(path)
    if not _is_state_dict(state):
        raise ConfigError(f"{path}: expected a state dict (parameter name -> tensor), found {_describe(state)}")
    return state


def read_checkpoint(path: str | os.PathLike, meta_keys: tuple[str, ...] = (), expected: str = "") -> dict:
    """A checkpoint of this project's (``{"model": state dict, "meta": {...}}``, as ``save_model`` writes it).

    ``meta_keys`` are the metadata the caller rebuilds the network from; a checkpoint of another
    stage lacks them, which is said here (with the kind of checkpoint ``expected``, such as
    "a CAM checkpoint (train_cam's)") rather than as a bare KeyError later.
    """
    state = read_weights(path)
    if not isinstance(state, Mapping) or not {"model", "meta"} <= state.keys() or not _is_state_dict(state["model"]):
        raise ConfigError(
            f"{path}: not a checkpoint of this pipeline (a dict with 'model' and 'meta'), found {_describe(state)}"
        )
    missing = [key for key in meta_keys if key not in state["meta"]]
    if missing:
        raise ConfigError(
            f"{path}: a checkpoint of another kind: its metadata lacks {missing}"
            + (f"; expected {expected}" if expected else "")
        )
    return dict(state)


def check_state_dict(
    state: Mapping[str, torch.Tensor],
    expected: Mapping[str, torch.Tensor],
    source: str | os.PathLike,
    ignored_prefixes: tuple[str, ...] = (),
    what: str = "the model",
) -> None:
    """Raise a ConfigError naming ``source`` unless ``state`` has exactly ``expected``'s keys and shapes.

    Keys under ``ignored_prefixes`` (an ImageNet classifier, say) may be present or absent; BatchNorm's
    ``num_batches_tracked`` may be missing (old files), as torch fills it in.
    """

    def kept(key: str) -> bool:
        return not key.startswith(ignored_prefixes) if ignored_prefixes else True

    missing = [k for k in expected if k not in state and kept(k) and not k.endswith(FILLED_BY_TORCH)]
    unexpected = [k for k in state if k not in expected and kept(k)]
    mismatched = [
        f"{k}: expected {tuple(expected[k].shape)}, found {tuple(state[k].shape)}"
        for k in expected
        if k in state and kept(k) and tuple(state[k].shape) != tuple(expected[k].shape)
    ]
    problems = [
        f"{len(keys)} {kind} ({separator.join(keys[:SHOWN])}{separator + '...' if len(keys) > SHOWN else ''})"
        for kind, keys, separator in (
            ("missing keys", missing, ", "),
            ("unexpected keys", unexpected, ", "),
            ("shape mismatches", mismatched, "; "),
        )
        if keys
    ]
    if problems:
        raise ConfigError(f"{source}: weights do not fit {what}: " + ". ".join(problems))


def check_resnet_weights(path: str | os.PathLike, depth: str) -> None:
    """Check a torchvision-layout ResNet state-dict file against ``depth`` (its ImageNet ``fc`` may be absent)."""
    with torch.device("meta"):  # only the names and shapes are needed
        expected = getattr(torchvision.models, depth)(weights=None).state_dict()
    check_state_dict(read_state_dict(path), expected, path, ("fc.",), f"a torchvision {depth}")


def load_checked(
    module: torch.nn.Module,
    state: Mapping[str, torch.Tensor],
    source: str | os.PathLike,
    ignored_prefixes: tuple[str, ...] = (),
    what: str | None = None,
) -> None:
    """:func:`check_state_dict` against ``module`` (described as ``what``), then load ``state`` into it."""
    check_state_dict(state, module.state_dict(), source, ignored_prefixes, what or f"a {type(module).__name__}")
    module.load_state_dict(state, strict=not ignored_prefixes)


def _is_state_dict(value: object) -> bool:
    return (
        isinstance(value, Mapping)
        and len(value) > 0
        and all(isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in value.items())
    )


def _describe(value: object) -> str:
    if isinstance(value, Mapping):
        keys = list(value)
        return f"a {type(value).__name__} with keys {keys[:SHOWN]}{' ...' if len(keys) > SHOWN else ''}"
    return f"a {type(value).__name__}"


def save_model(path: str | os.PathLike, model: torch.nn.Module, meta: dict) -> None:
    """Save a state dict with a small metadata dict (plain types only: loads with weights_only=True)."""
    with atomic_path(path) as tmp:
        torch.save({"model": model.state_dict(), "meta": meta}, tmp)


def file_sha256(path: str | os.PathLike) -> str:
    """The sha256 of a file's bytes, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        while block := file.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


def content_fingerprint(path: str | os.PathLike | None) -> str | None:
    """What identifies an input's content, cheaply enough to check on every start.

    A file: its sha256. A folder (10,582 label PNGs, say): a hash of its files' names, sizes and
    mtimes, which are only stat-ed, so rewriting a file counts as a change even if its bytes are
    the same. Anything else (None, a URL, a model name) stands for itself.
    """
    if path is None or not Path(path).exists():
        return None if path is None else str(path)
    path = Path(path)
    if path.is_file():
        return "sha256:" + file_sha256(path)
    digest = hashlib.sha256()
    for folder, _, names in sorted(os.walk(path)):
        for name in sorted(names):
            stat = os.stat(os.path.join(folder, name))
            digest.update(f"{os.path.relpath(folder, path)}/{name}\0{stat.st_size}\0{stat.st_mtime_ns}\n".encode())
    return "files:" + digest.hexdigest()


def set_aside(path: Path, why: str, into: Path | None = None) -> Path:
    """Rename a file that must not be used (damaged, foreign) to ``<into>/<name>.rejected``, with a warning.

    Kept rather than deleted so it can be looked at; ``into`` defaults to the file's own folder,
    and a later rejected file of the same name replaces the earlier one.
    """
    target = (into or path.parent) / (path.name + ".rejected")
    target.parent.mkdir(parents=True, exist_ok=True)
    os.replace(path, target)
    log.warning("%s: %s; set aside as %s", path, why, target)
    return target
