"""The reference's CAM files, read without running their pickles, and converted into this project's.

IRN's ``step/make_cam.py`` and CLIMS's ``step/make_clims.py`` save one ``<image id>.npy`` per image
with ``np.save(path, {"keys": ..., "cam": ..., "high_res": ...})``: a 0-d object array whose pickle
holds the dict. ``keys`` (the image's classes, 0-based) and ``cam`` (the maps at stride 4, IRN's
``get_strided_size``: ceil(H/4) x ceil(W/4)) are torch tensors, ``high_res`` (the maps at the image
size) a numpy array; each map is divided by its maximum. The camera-ready version's
``previous_version/inference_cam.py`` saves ``{"keys", "cam", "hr_cam"}`` the same way, except that
its ``keys`` are label values with the background first (0, then class + 1), a numpy array.

``np.load(allow_pickle=True)`` would call whatever the pickle names. Here the pickle is read by an
unpickler that resolves only the globals such files use (numpy's array reconstruction, torch's
tensor rebuild, OrderedDict) and loads each pickled torch storage with
``torch.load(weights_only=True)``; any other global is refused before anything calls it.
"""

from __future__ import annotations

import collections
import io
import math
import os
import pickle
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from numpy.lib import format as npy_format

from wsss.data.cam_io import CamRecord, save_cam
from wsss.data.images import image_size
from wsss.data.released_folders import ReleasedImage
from wsss.errors import DatasetError

# numpy's array reconstructor, whichever module this numpy keeps it in.
_RECONSTRUCT = np.empty(0).__reduce__()[0]


class _Refused(pickle.UnpicklingError):
    """The pickle asks for something the reference's CAM files never need; nothing of it was run."""


def _reason(error: Exception) -> str:
    """The line of torch's weights-only refusal that says what was refused (past its standard preamble)."""
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    boilerplate = ("Please file an issue", "Check the documentation")
    details = [line for line in lines[1:] if not line.startswith(boilerplate)]
    return (details or lines or [type(error).__name__])[0]


def _load_storage(data: bytes) -> torch.TypedStorage | torch.UntypedStorage:
    """torch.storage._load_from_bytes as torch's safe loader: the nested ``torch.save`` archive of
    one pickled storage, read with ``weights_only=True`` (which refuses code of its own)."""
    if not isinstance(data, bytes):
        raise _Refused(f"torch.storage._load_from_bytes was given a {type(data).__name__}, not bytes")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # TypedStorage's deprecation, pickle protocol notices
            storage = torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        raise _Refused(
            f"a pickled torch storage inside was refused by torch.load(weights_only=True): {_reason(exc)}"
        ) from None
    if not isinstance(storage, (torch.TypedStorage, torch.UntypedStorage)):
        raise _Refused(f"torch.storage._load_from_bytes gave a {type(storage).__name__}, not a storage")
    return storage


def _rebuild_tensor(storage: object, offset: object, size: object, stride: object, *rest: object) -> torch.Tensor:
    """torch._utils._rebuild_tensor_v2, once the view is known to lie inside its storage: torch would
    otherwise grow the storage to any size the file asks for (uninitialised memory, or an OOM kill)."""
    if not isinstance(storage, (torch.TypedStorage, torch.UntypedStorage)):
        raise _Refused(f"a tensor is rebuilt from a {type(storage).__name__}, not from a storage")
    try:
        dims = [(int(n), int(s)) for n, s in zip(size, stride, strict=True)]
        offset = int(offset)
    except (TypeError, ValueError):
        raise _Refused("a tensor's offset, size or stride is not a list of integers") from None
    elements = len(storage) if isinstance(storage, torch.TypedStorage) else storage.nbytes()
    if offset < 0 or any(n < 0 or s < 0 for n, s in dims):
        raise _Refused("a tensor has a negative offset, size or stride")
    if all(n > 0 for n, _ in dims) and offset + sum((n - 1) * s for n, s in dims) >= elements:
        raise _Refused(f"a tensor reaches past the end of its storage of {elements} elements")
    return torch._utils._rebuild_tensor_v2(storage, offset, size, stride, *rest)


# Every global the reference's files name, under numpy 1's and numpy 2's module names.
_ALLOWED = {
    ("numpy.core.multiarray", "_reconstruct"): _RECONSTRUCT,
    ("numpy._core.multiarray", "_reconstruct"): _RECONSTRUCT,
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): np.dtype,
    ("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor,
    ("torch.storage", "_load_from_bytes"): _load_storage,
    ("collections", "OrderedDict"): collections.OrderedDict,
}


class _ReferenceCamUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> object:
        try:
            return _ALLOWED[(module, name)]
        except KeyError:
            raise _Refused(f"it names the global {module}.{name}, which no reference CAM file uses") from None

    def persistent_load(self, pid: object) -> object:
        raise _Refused("it holds a persistent id, which no reference CAM file uses")


# The dict keys of each layout: (classes, stride-4 maps, image-size maps).
LAYOUTS = {
    "IRN step/make_cam.py, CLIMS step/make_clims.py": ("keys", "cam", "high_res"),
    "CLIMS camera-ready previous_version/inference_cam.py": ("keys", "cam", "hr_cam"),
}
_CAMERA_READY = list(LAYOUTS)[1]


@dataclass(frozen=True)
class ReferenceCam:
    """One reference CAM file: ``keys`` (K,) the image's classes, 0-based; ``cam`` (K, h, w) at stride
    4; ``high_res`` (K, H, W) at the image size; ``layout`` the writer it was read as."""

    keys: np.ndarray
    cam: np.ndarray
    high_res: np.ndarray
    layout: str


def _unpickle_npy(path: Path) -> object:
    """The object a ``.npy`` file of a pickled 0-d object array holds, unpickled by the restricted unpickler."""
    with open(path, "rb") as handle:
        version = npy_format.read_magic(handle)
        readers = {(1, 0): npy_format.read_array_header_1_0, (2, 0): npy_format.read_array_header_2_0}
        if version not in readers:
            raise DatasetError(f"{path}: .npy format version {version[0]}.{version[1]}; the reference writes 1.0")
        shape, _, dtype = readers[version](handle)
        if shape != () or dtype != np.dtype(object):
            raise DatasetError(
                f"{path}: holds a {dtype} array of shape {shape}, not a pickled dict (np.save of a dict)"
            )
        return _ReferenceCamUnpickler(handle).load()


def _as_array(path: Path, name: str, value: object) -> np.ndarray:
    if isinstance(value, torch.Tensor):
        return value.detach().cpu().numpy()
    if isinstance(value, np.ndarray):
        return value
    raise DatasetError(f"{path}: {name!r} is a {type(value).__name__}, not an array")


def read_reference_cam(path: str | os.PathLike) -> ReferenceCam:
    """Read one reference CAM file; errors name the file and what is wrong (a refused global, a
    truncated pickle, a dict of other keys, a value that is not an array, shapes that disagree)."""
    path = Path(path)
    try:
        loaded = _unpickle_npy(path)
    except DatasetError:
        raise
    except FileNotFoundError:
        raise DatasetError(f"{path}: CAM file is missing") from None
    except _Refused as exc:
        raise DatasetError(f"{path}: refused, not run: {exc}") from None
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, OSError, RuntimeError, AttributeError) as exc:
        raise DatasetError(f"{path}: unreadable or truncated CAM file ({type(exc).__name__}: {exc})") from None
    if not (isinstance(loaded, np.ndarray) and loaded.shape == () and isinstance(loaded.item(), dict)):
        raise DatasetError(f"{path}: the pickle holds a {type(loaded).__name__}, not a dict in a 0-d array")
    content = loaded.item()
    layout = next((name for name, names in LAYOUTS.items() if set(content) == set(names)), None)
    if layout is None:
        expected = " or ".join(f"{', '.join(map(repr, names))} ({name})" for name, names in LAYOUTS.items())
        found = ", ".join(sorted(map(repr, content)))
        raise DatasetError(f"{path}: a dict of the keys {found}; expected {expected}")
    keys, cam, high_res = (_as_array(path, name, content[name]) for name in LAYOUTS[layout])
    if keys.ndim != 1 or not np.issubdtype(keys.dtype, np.integer):
        raise DatasetError(f"{path}: 'keys' must be a 1-D integer array, got {keys.dtype} {keys.shape}")
    keys = keys.astype(np.int64)
    if layout == _CAMERA_READY:
        if len(keys) == 0 or keys[0] != 0:
            raise DatasetError(f"{path}: camera-ready 'keys' must start with the background's 0, got {keys.tolist()}")
        keys = keys[1:] - 1
    for name, maps in (("cam", cam), (LAYOUTS[layout][2], high_res)):
        if maps.ndim != 3 or not np.issubdtype(maps.dtype, np.floating) or maps.shape[0] != len(keys):
            raise DatasetError(
                f"{path}: {name!r} must be float maps (K, H, W) for the K = {len(keys)} classes, "
                f"got {maps.dtype} {maps.shape}"
            )
    return ReferenceCam(keys, cam.astype(np.float32), high_res.astype(np.float32), layout)


def check_reference_cam(
    cam: ReferenceCam, path: str | os.PathLike, classes: tuple[int, ...], size: tuple[int, int]
) -> None:
    """The file fits its image: the classes are the image's (0-based), ``high_res`` is (K, H, W) at the
    image's ``size``, ``cam`` (K, ceil(H/4), ceil(W/4)), and every value lies in [0, 1]."""
    if not np.array_equal(cam.keys, np.asarray(classes, dtype=np.int64)):
        raise DatasetError(f"{path}: classes {cam.keys.tolist()} (0-based), the image's labels {list(classes)}")
    height, width = size
    expected = {
        "high_res": (len(classes), height, width),
        "cam": (len(classes), math.ceil(height / 4), math.ceil(width / 4)),
    }
    for name, shape in expected.items():
        found = getattr(cam, name).shape
        if found != shape:
            raise DatasetError(f"{path}: {name!r} is {found}, expected {shape} for the {height}x{width} image")
    for name in expected:
        maps = getattr(cam, name)
        low, high = float(maps.min(initial=0.0)), float(maps.max(initial=0.0))
        if not (np.isfinite(maps).all() and low >= 0.0 and high <= 1.0):
            raise DatasetError(f"{path}: {name!r} holds values in {low}..{high}; the reference's maps lie in [0, 1]")


def convert_reference_cam(image: ReleasedImage, output: str) -> str:
    """Read, check and write one image's CAMs as ``<output>/<id>.npz``; return the file's layout."""
    cam = read_reference_cam(image.source)
    check_reference_cam(cam, image.source, image.classes, image_size(image.image_path))
    save_cam(output, image.image_id, CamRecord(keys=cam.keys, cam=cam.high_res, cam_stride4=cam.cam))
    return cam.layout
