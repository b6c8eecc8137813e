"""Run the reference's own code and the project's on identical inputs and print the largest differences.

The reference is the user's own checkout, never a copy in this repository:

- ``--irn``: jiwoon-ahn/irn or CVI-SZU/CLIMS (both carry IRN's ``misc/`` and ``step/``): IRN's
  PathIndex (search directions, path pixels, affinities, the transition matrix, the training
  pairs and their labels), ``cam_to_ir_label`` (the two CRF passes) and ``make_sem_seg_labels``
  (the random walk and the labels it writes).
- ``--deeplab``: CLIMS' ``segmentation/deeplabv2`` (its ``main_v2.py`` has the balanced loss) or
  kazuto1011/deeplab-pytorch (plain cross-entropy; only MSC and the label resizing are compared):
  MSC's four training outputs, the labels resized to each, the loss.

    PYTHONPATH=. python bench/compare_reference.py --irn ~/src/CLIMS --deeplab ~/src/CLIMS/segmentation/deeplabv2

Inputs are small, seeded and generated here; both sides get the settings of ``--config``
(configs/voc12.yaml). The reference code expects CUDA and torch 1.x: it runs on the CPU with
``.cuda()`` made a no-op, and the few other adaptations it needs are printed with the table.
Nothing of the reference is imported until a comparison runs, and its modules leave
``sys.modules`` and ``sys.path`` when it ends.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import importlib
import importlib.util
import subprocess
import sys
import tempfile
import types
import xml.etree.ElementTree
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from unittest import mock

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from wsss.errors import ConfigError

# The files each comparison imports or runs, relative to the checkout given.
IRN_FILES = ("misc/indexing.py", "misc/imutils.py", "misc/torchutils.py", "voc12/dataloader.py", "voc12/cls_labels.npy")
IRN_STEPS = ("step/cam_to_ir_label.py", "step/make_sem_seg_labels.py")
IRN_MODULES = ("misc", "voc12", "step", "net")  # the top-level names IRN's code is imported under
IRN_NETS = ("net/resnet50.py", "net/resnet50_cam.py")
DEEPLAB_FILES = ("libs/models/msc.py", "libs/models/__init__.py")
# Imported by the reference's training scripts but used by none of the functions compared:
# replaced by empty modules where they are not installed.
UNUSED_BY_COMPARISON = ("joblib", "omegaconf", "torch.utils.tensorboard", "torchnet", "torchnet.meter")


@dataclasses.dataclass
class Row:
    """One line of the table."""

    comparison: str
    inputs: str
    largest_difference: str
    differing: str = ""


@dataclasses.dataclass
class Comparison:
    """The rows of one checkout and the adaptations the reference code needed to run."""

    checkout: str
    rows: list[Row] = dataclasses.field(default_factory=list)
    adaptations: list[str] = dataclasses.field(default_factory=list)


def require_files(root: Path, files: Sequence[str], what: str) -> None:
    """Fail naming the checkout and the first file it lacks."""
    if not root.is_dir():
        raise ConfigError(f"{root}: no such folder (expected a checkout of {what})")
    for name in files:
        if not (root / name).is_file():
            raise ConfigError(f"{root}: not a checkout of {what}: {name} is missing")


def _stub(name: str) -> types.ModuleType:
    """An empty module whose every public attribute is a MagicMock (what the import lines ask for)."""

    def attribute(key: str) -> object:
        if key.startswith("__"):
            raise AttributeError(key)
        return mock.MagicMock(name=f"{name}.{key}")

    stub = types.ModuleType(name, "stands for a module not installed here")
    stub.__getattr__ = attribute
    stub.__path__ = []  # a package, so that its submodules' stubs import
    return stub


def _from_root(module: object, root: Path) -> bool:
    """Whether ``module`` was loaded from ``root`` (a namespace package such as IRN's step/ has no file)."""
    places = [getattr(module, "__file__", None)]
    with contextlib.suppress(TypeError):  # some modules' __path__ is no list (torch.classes)
        places += list(getattr(module, "__path__", None) or [])
    return any(isinstance(place, str) and Path(place).resolve().is_relative_to(root) for place in places)


@contextlib.contextmanager
def reference_modules(
    root: Path, names: Sequence[str], adaptations: list[str], unused: Sequence[str] = ()
) -> Iterator[None]:
    """Make ``root``'s modules ``names`` importable (``root`` first on sys.path, and the working
    folder, since IRN's voc12/dataloader.py reads voc12/cls_labels.npy relative to it). Modules of
    ``unused`` that are not installed are replaced by stubs. Afterwards every module loaded from
    ``root`` and every stub leave sys.modules, and sys.path and the working folder are restored."""
    root = root.resolve()
    for name in names:
        if name in sys.modules and not _from_root(sys.modules[name], root):
            raise ConfigError(
                f"{root}: a module {name!r} is already imported from elsewhere "
                f"({getattr(sys.modules[name], '__file__', None)}), so the reference's would not load"
            )
    stubs: list[str] = []
    for name in unused:
        if name in sys.modules:
            continue
        if name.rpartition(".")[0] not in stubs:
            try:
                importlib.import_module(name)
                continue
            except ImportError:
                pass
        sys.modules[name] = _stub(name)
        stubs.append(name)
    if stubs:
        adaptations.append(
            f"not installed, replaced by empty modules (the functions compared do not use them): {stubs}"
        )
    saved_path = list(sys.path)
    sys.path.insert(0, str(root))
    try:
        with contextlib.chdir(root):
            yield
    finally:
        sys.path[:] = saved_path
        for name, module in list(sys.modules.items()):
            if name in stubs or _from_root(module, root):
                del sys.modules[name]


@contextlib.contextmanager
def cuda_as_cpu(adaptations: list[str]) -> Iterator[None]:
    """The reference moves everything to CUDA and opens a CUDA device per worker: here those are no-ops.

    ``device_count`` reports 2 so that worker 0 is not the one that prints progress (its print
    divides by len(images) // 20, zero for fewer than 20 images)."""
    adaptations.append(
        "Tensor.cuda and Module.cuda return their object, torch.cuda.device is a no-op context and "
        "torch.cuda.device_count() is 2 (worker 0 then skips the progress print that divides by len // 20)"
    )
    with (
        mock.patch.object(torch.Tensor, "cuda", lambda self, *args, **kwargs: self),
        mock.patch.object(torch.nn.Module, "cuda", lambda self, *args, **kwargs: self),
        mock.patch.object(torch.cuda, "device", lambda index: contextlib.nullcontext()),
        mock.patch.object(torch.cuda, "device_count", lambda: 2),
    ):
        yield


def largest(a: torch.Tensor | np.ndarray, b: torch.Tensor | np.ndarray) -> float:
    return float(np.max(np.abs(np.asarray(a, dtype=np.float64) - np.asarray(b, dtype=np.float64))))


def share(count: int, total: int, unit: str = "pixels") -> str:
    return f"{count} of {total} {unit} ({100 * count / max(total, 1):.2f} %)"


def git_commit(root: Path) -> str:
    """The commit of the git work tree holding ``root``, and that tree (a folder of another repository
    would otherwise pass for a checkout at that repository's commit)."""
    result = subprocess.run(
        ["git", "-C", str(root), "rev-parse", "HEAD", "--show-toplevel"], capture_output=True, text=True
    )
    if result.returncode != 0:
        return "no git metadata"
    commit, top = result.stdout.split()
    return f"commit {commit} of the work tree {top}"


# --- generated inputs -------------------------------------------------------------------------------


def blobs(rng: np.random.Generator, count: int, height: int, width: int) -> np.ndarray:
    """(count, H, W) smooth maps in [0, 1]: a Gaussian bump or two each, like CAMs."""
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
    maps = np.zeros((count, height, width), np.float32)
    for k in range(count):
        for _ in range(rng.integers(1, 3)):
            cy, cx = rng.uniform(0, height), rng.uniform(0, width)
            sigma = rng.uniform(0.12, 0.3) * min(height, width)
            maps[k] = np.maximum(maps[k], np.exp(-((ys - cy) ** 2 + (xs - cx) ** 2) / (2 * sigma**2)))
    return maps * rng.uniform(0.6, 1.0, size=(count, 1, 1)).astype(np.float32)


def image_for(rng: np.random.Generator, maps: np.ndarray) -> np.ndarray:
    """An (H, W, 3) uint8 image whose colour follows the maps (so the CRF's bilateral term matters), with noise."""
    colours = rng.uniform(0, 255, size=(len(maps) + 1, 3))
    weights = np.concatenate([np.full((1, *maps.shape[1:]), 0.3, np.float32), maps])
    image = np.einsum("khw,kc->hwc", weights / weights.sum(0, keepdims=True), colours)
    return np.clip(image + rng.normal(0, 12, image.shape), 0, 255).astype(np.uint8)


def boundary_map(rng: np.random.Generator, height: int, width: int) -> torch.Tensor:
    """(H, W) IRN-like boundary probabilities: mostly low, a vertical and a horizontal wall."""
    edge = rng.uniform(0, 1, (height, width)).astype(np.float32) ** 4
    edge[:, width // 3] = 0.95
    edge[height // 2, : 2 * width // 3] = 0.9
    return torch.from_numpy(edge)


def label_map(rng: np.random.Generator, height: int, width: int, classes: Sequence[int]) -> np.ndarray:
    """(H, W) uint8 labels in blocks: background, the given classes and unsure (255)."""
    coarse = rng.choice([0, *classes, 255], size=((height + 3) // 4, (width + 3) // 4), p=None)
    return np.kron(coarse, np.ones((4, 4), np.int64))[:height, :width].astype(np.uint8)


# --- IRN --------------------------------------------------------------------------------------------


def compare_path_index(indexing: types.ModuleType, radius: int) -> list[Row]:
    """IRN's PathIndex search directions and path pixels against the project's offsets and paths."""
    from wsss.refine.affinity import half_offsets, path_points

    reference = indexing.PathIndex(radius=radius, default_size=(2 * radius + 2, 2 * radius + 2))
    # Each path lists its pixels from the destination (the pixel farthest from the source) back.
    theirs = {
        tuple(int(v) for v in path[0]): {tuple(int(v) for v in p) for p in path}
        for group in reference.search_paths
        for path in group
    }
    ours = {offset: set(path_points(*offset, "reference")) for offset in half_offsets(radius)}
    only_one = set(theirs) ^ set(ours)
    common = set(theirs) & set(ours)
    differ = sum(theirs[o] != ours[o] for o in common)
    points = (sum(len(p) for p in theirs.values()), sum(len(p) for p in ours.values()))
    return [
        Row(
            f"PathIndex search directions, radius {radius}",
            f"radius {radius}",
            f"{len(theirs)} vs {len(ours)} directions",
            share(len(only_one), len(set(theirs) | set(ours)), "in one only"),
        ),
        Row(
            f"PathIndex path pixels, radius {radius}",
            f"{len(common)} directions",
            f"{points[0]} vs {points[1]} pixels",
            share(differ, len(common), "paths differ"),
        ),
    ]


def dense_affinity(edge: torch.Tensor, radius: int) -> torch.Tensor:
    """The project's pair affinities as a symmetric (N, N) matrix with ones on the diagonal."""
    from wsss.refine.affinity import half_offsets, pair_affinities

    height, width = edge.shape
    affinity, valid = pair_affinities(edge, radius, "reference")
    offsets = torch.tensor(half_offsets(radius))
    index = torch.arange(height * width).view(height, width).expand(len(offsets), -1, -1)
    source = index[valid]
    target = source + (offsets[:, 0] * width + offsets[:, 1]).view(-1, 1, 1).expand_as(index)[valid]
    dense = torch.eye(height * width)
    dense[source, target] = affinity[valid]
    dense[target, source] = affinity[valid]
    return dense


def compare_walk_matrices(indexing: types.ModuleType, edge: torch.Tensor, cams: torch.Tensor, walk: dict) -> list[Row]:
    """propagate_to_edge's affinity matrix, transition matrix and walked maps against the project's."""
    from wsss.refine.random_walk import dense_random_walk, random_walk, transition_matrix

    captured = {}
    original = indexing.to_transition_matrix

    def recording(affinity_dense, beta, times):
        captured["affinity"] = affinity_dense.clone()
        return original(affinity_dense, beta=beta, times=times)

    with mock.patch.object(indexing, "to_transition_matrix", recording):
        walked = indexing.propagate_to_edge(
            cams.clone(), edge[None].clone(), radius=walk["radius"], beta=walk["beta"], exp_times=walk["exp_times"]
        )[:, 0]
    transition = original(captured["affinity"], beta=walk["beta"], times=0)
    n = edge.numel()
    rows, cols, values = transition_matrix(edge, walk["radius"], walk["beta"], "reference")
    ours_transition = torch.zeros(n, n).index_put_((rows, cols), values, accumulate=True).T
    sparse = random_walk(cams, edge, walk["radius"], walk["beta"], walk["exp_times"], "reference")
    dense = dense_random_walk(cams, edge, walk["radius"], walk["beta"], walk["exp_times"], "reference")
    shape = f"{tuple(cams.shape)} maps, {n} pixels"
    scale = float(walked.abs().max())
    return [
        Row(
            f"affinity matrix (propagate_to_edge, radius {walk['radius']})",
            f"{n}x{n}",
            f"{largest(captured['affinity'], dense_affinity(edge, walk['radius'])):.2e}",
        ),
        Row(
            f"transition matrix (beta {walk['beta']})",
            f"{n}x{n}",
            f"{largest(transition, ours_transition):.2e}",
        ),
        Row(
            f"random walk, 2^{walk['exp_times']} steps: sparse (project) vs dense squaring (reference)",
            shape,
            f"{largest(walked, sparse):.2e} (largest value {scale:.3g})",
        ),
        Row(
            "random walk: dense_random_walk (project, float64) vs reference (float32)",
            shape,
            f"{largest(walked, dense):.2e}",
        ),
    ]


def compare_training_pairs(
    indexing: types.ModuleType, dataloader: types.ModuleType, size: int, radius: int, pair_sources: str
) -> list[Row]:
    """train_irn's PathIndex at crop/4 (its pairs, their affinities and affinity labels) against the
    project's under the config's ``irn.pair_sources``."""
    from wsss.refine.affinity import affinity_labels, half_offsets, pair_affinities, source_window

    rng = np.random.default_rng(3)
    reference = indexing.PathIndex(radius=radius, default_size=(size, size))
    edge = boundary_map(rng, size, size)
    theirs = indexing.edge_to_affinity(edge[None, None].clone(), list(reference.path_indices))[0]  # (dirs, sources)
    ours, valid = pair_affinities(edge, radius, "reference")
    valid = valid & source_window(radius, size, size, pair_sources)
    # Their pair (direction d, source s) is our (offset position of d, pixel s).
    position = {offset: i for i, offset in enumerate(half_offsets(radius))}
    directions = torch.tensor([position[(int(dy), int(dx))] for dy, dx in reference.search_dst])
    sources = torch.from_numpy(reference.src_indices)
    ours_at = ours.flatten(1)[directions[:, None], sources[None, :]]
    labels = label_map(rng, size, size, (3, 8))
    their_labels = dataloader.GetAffinityLabelFromIndices(reference.src_indices, reference.dst_indices)(labels)
    our_labels = affinity_labels(torch.from_numpy(labels.astype(np.int64))[None], radius, pair_sources)
    floor = reference.radius_floor
    label_rows = []
    for name, their, our in zip(
        ("same-class background", "same-class object", "different-class"), their_labels, our_labels
    ):
        our_at = our[0].flatten(1)[directions[:, None], sources[None, :]]
        label_rows.append(
            Row(
                f"training pairs' labels: {name} (GetAffinityLabelFromIndices)",
                f"{size}x{size} labels, radius {radius}",
                f"{int(their.sum())} vs {int(our_at.sum())} pairs ({int(our.sum())} over all the project's pairs)",
                share(int((their.bool() != our_at).sum()), their.numel(), "pairs"),
            )
        )
    return [
        Row(
            f"training pairs (train_irn's PathIndex at crop/4, radius {radius}; project: pair_sources {pair_sources})",
            f"{size}x{size} map",
            f"{theirs.numel()} vs {int(valid.sum())} pairs",
            f"the reference's sources: rows 0-{size - floor - 1}, columns {floor}-{size - floor - 1}",
        ),
        Row(
            "training pairs' affinities (edge_to_affinity), at the reference's pairs",
            f"{size}x{size} map",
            f"{largest(theirs, ours_at):.2e}",
        ),
        *label_rows,
    ]


def compare_camera_ready_clims(previous_version: Path, folder: Path) -> list[Row]:
    """CLIMS's camera-ready network (previous_version/models/clip_resnet.CLIMS) against the layout
    released_cams reads it in, and its inference maps against CameraReadyCAMNet's from one file."""
    from wsss.models.released_cams import read_released_cam
    from wsss.rehearsal.weights import CameraReadyClimsLayout

    with reference_modules(previous_version, ("models",), []):
        reference = importlib.import_module("models.clip_resnet").CLIMS(num_classes=20, arch="resnet50")
    layout = CameraReadyClimsLayout(20)
    theirs = {key: tuple(value.shape) for key, value in reference.state_dict().items()}
    ours = {key: tuple(value.shape) for key, value in layout.state_dict().items()}
    torch.manual_seed(0)
    for module in layout.modules():
        if isinstance(module, torch.nn.BatchNorm2d):
            module.running_mean.normal_(0, 0.1), module.running_var.uniform_(0.5, 1.5)
    torch.save(layout.state_dict(), folder / "clims_camera_ready.pth")
    reference.load_state_dict(torch.load(folder / "clims_camera_ready.pth"), strict=True)
    model, _ = read_released_cam(folder / "clims_camera_ready.pth", 20)
    images = torch.randn(2, 3, 96, 128, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        their_cams = F.relu(reference.eval()(images, inference=True)[:, 1:])  # inference_cam.py's get_cam
        our_cams = model.eval().cams(images)
    return [
        Row(
            "camera-ready models/clip_resnet.CLIMS state-dict keys and shapes vs the layout released_cams reads",
            "20 classes",
            f"{len(theirs)} vs {len(ours)} keys",
            "same names, order and shapes" if theirs == ours and list(theirs) == list(ours) else "different",
        ),
        Row(
            "camera-ready CLIMS inference maps (background dropped, ReLU) vs CameraReadyCAMNet.cams",
            "(2, 3, 96, 128)",
            f"{largest(their_cams, our_cams):.2e} (largest value {float(their_cams.max()):.4g})",
        ),
    ]


def compare_ir_labels(step: types.ModuleType, folder: Path, images: list[dict], settings: dict) -> list[Row]:
    """step/cam_to_ir_label.py's worker over the images against the project's ir_labels."""
    from wsss.refine.cam_to_labels import ir_labels
    from wsss.refine.crf import CRFParams

    cams, out = folder / "cams", folder / "ir_label"
    cams.mkdir()
    out.mkdir()
    for item in images:
        np.save(cams / f"{item['name']}.npy", {"high_res": item["cams"], "keys": item["keys"]})
    args = types.SimpleNamespace(
        cam_out_dir=str(cams),
        ir_label_out_dir=str(out),
        conf_fg_thres=settings["ir_label"]["fg_threshold"],
        conf_bg_thres=settings["ir_label"]["bg_threshold"],
        num_workers=0,  # only its progress print reads it
    )
    step._work(0, [[{"name": item["name"], "img": item["image"]} for item in images]], args)
    params = CRFParams(**settings["crf"])
    rows = []
    for item in images:
        theirs = np.asarray(Image.open(out / f"{item['name']}.png"))
        ours = ir_labels(item["image"], item["cams"], item["keys"], args.conf_fg_thres, args.conf_bg_thres, params)
        rows.append(
            Row(
                "cam_to_ir_label (two CRF passes) vs ir_labels",
                f"{item['image'].shape[0]}x{item['image'].shape[1]} image, classes {item['keys'].tolist()}",
                f"{largest(theirs, ours):.0f} (label values)",
                f"{share(int((theirs != ours).sum()), theirs.size)}; values {np.unique(theirs).tolist()}",
            )
        )
    return rows


class _EdgeAsInput(torch.nn.Module):
    """Stands for IRN's EdgeDisplacement: the 'image' handed to it is the boundary map itself."""

    def forward(self, edge: torch.Tensor) -> tuple[torch.Tensor, None]:
        return edge, None


class _NumpySizesAsInts:
    """numpy as the reference's module sees it, but for ``asarray`` of the collated image size."""

    def __getattr__(self, name: str) -> object:
        return getattr(np, name)

    @staticmethod
    def asarray(value: object, *args, **kwargs) -> np.ndarray:
        if isinstance(value, list) and all(isinstance(v, torch.Tensor) and v.numel() == 1 for v in value):
            return np.array([int(v) for v in value])
        return np.asarray(value, *args, **kwargs)


def compare_walked_labels(step: types.ModuleType, folder: Path, images: list[dict], settings: dict) -> list[Row]:
    """step/make_sem_seg_labels.py's worker against the project's propagated_labels."""
    from wsss.refine.random_walk import propagated_labels

    cams, out = folder / "cams_stride4", folder / "sem_seg"
    cams.mkdir()
    out.mkdir()
    for item in images:
        np.save(cams / f"{item['name']}.npy", {"cam": torch.from_numpy(item["cams4"]), "keys": item["keys"]})
    walk = settings["refine"]
    args = types.SimpleNamespace(
        cam_out_dir=str(cams),
        sem_seg_out_dir=str(out),
        beta=walk["beta"],
        exp_times=walk["exp_times"],
        sem_seg_bg_thres=walk["bg_threshold"],
        num_workers=0,
    )
    dataset = [{"name": item["name"], "img": item["edge"][None], "size": item["size"]} for item in images]
    with mock.patch.object(step, "np", _NumpySizesAsInts()):
        step._work(0, _EdgeAsInput(), [dataset], args)
    rows = []
    for item in images:
        theirs = np.asarray(Image.open(out / f"{item['name']}.png"))
        ours = propagated_labels(
            item["cams4"],
            item["keys"],
            item["edge"],
            item["size"],
            radius=walk["radius"],
            beta=walk["beta"],
            exp_times=walk["exp_times"],
            bg_threshold=walk["bg_threshold"],
            path=walk["path"],
        )
        rows.append(
            Row(
                "make_sem_seg_labels (random walk, x4, background plane) vs propagated_labels",
                f"{item['size'][0]}x{item['size'][1]} image, {tuple(item['edge'].shape)} map",
                f"{largest(theirs, ours):.0f} (label values)",
                f"{share(int((theirs != ours).sum()), theirs.size)}; values {np.unique(theirs).tolist()}",
            )
        )
    return rows


def irn_images(rng: np.random.Generator, sizes: Sequence[tuple[int, int]]) -> list[dict]:
    """Generated images with CAMs at full size and at stride 4, and a boundary map, named as VOC ids
    (the reference's workers decode the names as integers)."""
    images = []
    for i, (height, width) in enumerate(sizes):
        keys = np.sort(rng.choice(20, size=1 + i % 2, replace=False)).astype(np.int64)
        cams = blobs(rng, len(keys), height, width)
        strided = ((height - 1) // 4 + 1, (width - 1) // 4 + 1)
        images.append(
            {
                "name": f"2007_{i + 1:06d}",
                "keys": keys,
                "cams": cams,
                "image": image_for(rng, cams),
                "size": (height, width),
                "cams4": blobs(rng, len(keys), *strided),
                "edge": boundary_map(rng, *strided),
            }
        )
    return images


def compare_irn(root: Path, settings: dict) -> Comparison:
    require_files(root, IRN_FILES + IRN_STEPS + IRN_NETS, "IRN (jiwoon-ahn/irn or CVI-SZU/CLIMS)")
    result = Comparison(f"{root} ({git_commit(root)})")
    rng = np.random.default_rng(0)
    with reference_modules(root, IRN_MODULES, result.adaptations), cuda_as_cpu(result.adaptations):
        indexing = importlib.import_module("misc.indexing")
        dataloader = importlib.import_module("voc12.dataloader")
        for radius in (5, 10):
            result.rows += compare_path_index(indexing, radius)
        walk = settings["refine"]
        edge = boundary_map(rng, 12, 16)
        cams = torch.from_numpy(blobs(rng, 2, 12, 16))
        result.rows += compare_walk_matrices(indexing, edge, cams, walk)
        result.rows += compare_training_pairs(
            indexing, dataloader, 32, settings["irn"]["radius"], settings["irn"]["pair_sources"]
        )
        images = irn_images(rng, [(41, 57), (64, 48), (90, 125)])
        with tempfile.TemporaryDirectory() as folder:
            result.rows += compare_ir_labels(
                importlib.import_module("step.cam_to_ir_label"), Path(folder), images, settings
            )
            result.adaptations.append(
                "make_sem_seg_labels: np.asarray(pack['size']) returns the two sizes as ints "
                "(numpy 2 refuses its (2, 1) array's rows as slice bounds)"
            )
            result.rows += compare_walked_labels(
                importlib.import_module("step.make_sem_seg_labels"), Path(folder), images, settings
            )
            result.adaptations.append("net/resnet50.py: model_zoo.load_url returns a random-init torchvision ResNet-50")
            with mock.patch("torch.utils.model_zoo.load_url", lambda *_, **__: torchvision_resnet50_state()):
                result.rows += compare_released_cam(root, Path(folder))
    return result


def torchvision_resnet50_state() -> dict[str, torch.Tensor]:
    import torchvision

    return torchvision.models.resnet50(weights=None).state_dict()


def compare_released_cam(root: Path, folder: Path) -> list[Row]:
    """The reference's CAM networks (net/resnet50_cam.Net; CLIMS's net/resnet50_clims.CLIMS where the
    checkout has it) against the layout of the files the project imports (released.baseline_cam,
    released.clims_cam), and the reference's CAM against the project's CAMNet read from one such file."""
    from wsss.models.released_cams import read_released_cam
    from wsss.rehearsal.weights import ReleasedCamLayout

    def shapes(module: torch.nn.Module) -> dict[str, tuple[int, ...]]:
        return {key: tuple(value.shape) for key, value in module.state_dict().items()}

    networks = {"net/resnet50_cam.Net": lambda: importlib.import_module("net.resnet50_cam").Net()}
    if (root / "net" / "resnet50_clims.py").is_file():
        networks["net/resnet50_clims.CLIMS"] = lambda: importlib.import_module("net.resnet50_clims").CLIMS(n_classes=20)
    ours = shapes(ReleasedCamLayout(20))
    rows = []
    for name, build in networks.items():
        theirs = shapes(build())
        rows.append(
            Row(
                f"{name} state-dict keys and shapes vs the layout released_cams reads",
                "20 classes",
                f"{len(theirs)} vs {len(ours)} keys",
                "same names, order and shapes" if theirs == ours and list(theirs) == list(ours) else "different",
            )
        )
    torch.manual_seed(0)
    layout = ReleasedCamLayout(20)
    for module in layout.modules():
        if isinstance(module, torch.nn.BatchNorm2d):
            module.running_mean.normal_(0, 0.1), module.running_var.uniform_(0.5, 1.5)
    torch.save(layout.state_dict(), folder / "res50_cam.pth")
    reference = importlib.import_module("net.resnet50_cam").CAM()
    reference.load_state_dict(torch.load(folder / "res50_cam.pth"), strict=True)
    model, _ = read_released_cam(folder / "res50_cam.pth", 20)
    image = torch.randn(1, 3, 96, 128, generator=torch.Generator().manual_seed(1))
    reference.eval()  # returns None: the reference's train() override returns nothing
    with torch.no_grad():
        theirs = reference(torch.cat([image, image.flip(-1)]))  # CAM of the image plus its flip's
        ours = model.eval().cams(image)[0] + model.cams(image.flip(-1))[0].flip(-1)
    if (root / "previous_version" / "models" / "clip_resnet.py").is_file():
        rows += compare_camera_ready_clims(root / "previous_version", folder)
    rows.append(
        Row(
            "net/resnet50_cam.CAM vs CAMNet.cams from one released-layout file (image + flip)",
            "(1, 3, 96, 128)",
            f"{largest(theirs, ours):.2e} (largest value {float(theirs.max()):.3g})",
        )
    )
    return rows


# --- DeepLab ----------------------------------------------------------------------------------------


class _TinyBase(torch.nn.Module):
    """A seeded stride-8 network standing for DeepLabV2 (MSC only sees its logits)."""

    def __init__(self, classes: int):
        super().__init__()
        generator = torch.Generator().manual_seed(0)
        self.first = torch.nn.Conv2d(3, 8, 3, stride=2, padding=1)
        self.second = torch.nn.Conv2d(8, classes, 3, stride=4, padding=1)
        with torch.no_grad():
            for parameter in self.parameters():
                parameter.copy_(torch.randn(parameter.shape, generator=generator) * 0.5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.second(F.relu(self.first(x)))


class _TorchLongTensorFromArrays:
    """torch as main_v2 sees it, with torch 1.x's LongTensor(list of float arrays) (torch 2 refuses it)."""

    def __getattr__(self, name: str) -> object:
        return getattr(torch, name)

    @staticmethod
    def LongTensor(data: object) -> torch.Tensor:  # noqa: N802 - torch's name
        if isinstance(data, list):
            return torch.as_tensor(np.stack(data)).long()
        return torch.LongTensor(data)


def project_msc_losses(base: torch.nn.Module, images: torch.Tensor, labels: torch.Tensor, section: dict) -> dict:
    """The project's training loss, as train_seg builds it from the ``segmenter`` section (a ResNet-18 in
    place of the configured backbone, and ``base`` in place of backbone + head)."""
    from mmengine.structures import PixelData
    from mmseg.registry import MODELS
    from mmseg.structures import SegDataSample

    from wsss.models.segmenter import model_config, register_modules, segmenter_from_config

    settings, plan = segmenter_from_config(section, [f"class{k}" for k in range(1, 21)])
    register_modules()
    model = MODELS.build(model_config(dataclasses.replace(settings, backbone="resnet18"), plan=plan))
    model._logits = base.forward  # an instance attribute (assigning the module would register a submodule)
    samples = []
    for label in labels:
        sample = SegDataSample()
        sample.gt_sem_seg = PixelData(data=label[None])
        sample.set_metainfo({"img_shape": tuple(label.shape), "pad_shape": tuple(label.shape)})
        samples.append(sample)
    return model.loss(images, samples)


def compare_deeplab(root: Path, settings: dict) -> Comparison:
    from wsss.models.deeplab import balanced_cross_entropy, labels_at, max_fused, scale_pyramid_logits

    require_files(root, DEEPLAB_FILES, "deeplab-pytorch (kazuto1011/deeplab-pytorch or CLIMS' segmentation/deeplabv2)")
    script = "main_v2.py" if (root / "main_v2.py").is_file() else "main.py"
    require_files(root, (script,), "deeplab-pytorch")
    result = Comparison(f"{root} ({git_commit(root)})")
    rng = np.random.default_rng(1)
    size, classes = 97, 21
    images = torch.from_numpy(rng.normal(0, 1, (2, 3, size, size)).astype(np.float32))
    labels = torch.from_numpy(np.stack([label_map(rng, size, size, (5, 12, 15)) for _ in range(2)]).astype(np.int64))
    base = _TinyBase(classes).train()
    with reference_modules(root, ("libs", script.removesuffix(".py")), result.adaptations, UNUSED_BY_COMPARISON):
        msc = importlib.import_module("libs.models.msc").MSC(base, scales=[0.5, 0.75]).train()
        main = importlib.import_module(script.removesuffix(".py"))
        result.adaptations.append(f"{script}: torch.LongTensor of resize_labels' list of float arrays stacks it first")
        with torch.no_grad():
            theirs = msc(images)
            pyramid = scale_pyramid_logits(base, images, (1.0, 0.5, 0.75))
            ours = [*pyramid, max_fused(pyramid)]
        names = ("1.0", "0.5", "0.75", "max")
        result.rows.append(
            Row(
                "MSC training outputs (libs/models/msc.py) vs scale_pyramid_logits + max_fused",
                f"{tuple(images.shape)} images, {classes} classes",
                f"{max(largest(a, b) for a, b in zip(theirs, ours)):.2e}",
                ", ".join(f"{n}: {tuple(t.shape[2:])}" for n, t in zip(names, theirs)),
            )
        )
        total_theirs = 0.0
        with mock.patch.object(main, "torch", _TorchLongTensorFromArrays()):
            for name, logits in zip(names, theirs):
                resized = main.resize_labels(labels, size=tuple(logits.shape[2:]))
                our_labels = labels_at(labels, logits.shape[2:])
                row = Row(
                    f"labels resized to the {name} output (resize_labels vs labels_at)",
                    f"{tuple(labels.shape)} -> {tuple(logits.shape[2:])}",
                    f"{largest(resized, our_labels):.0f} (label values)",
                    share(int((resized != our_labels).sum()), resized.numel()),
                )
                result.rows.append(row)
                if hasattr(main, "criterion_balance"):
                    loss = float(main.criterion_balance(logits, resized))
                    total_theirs += loss
                    result.rows.append(
                        Row(
                            f"balanced loss at the {name} output (criterion_balance vs balanced_cross_entropy)",
                            f"{tuple(logits.shape)}",
                            f"{abs(loss - float(balanced_cross_entropy(logits, our_labels))):.2e} (loss {loss:.6f})",
                        )
                    )
            wide = main.resize_labels(labels, size=(13, 17))
            result.rows.append(
                Row(
                    "labels resized for a non-square (13, 17) output",
                    f"{tuple(labels.shape)} -> (13, 17)",
                    f"shapes {tuple(wide.shape[1:])} vs {tuple(labels_at(labels, (13, 17)).shape[1:])}",
                    "resize_labels hands PIL (H, W) as (width, height)",
                )
            )
            if hasattr(main, "criterion_balance"):
                background = torch.zeros_like(labels)
                their_empty = float(main.criterion_balance(theirs[0], main.resize_labels(background, size=(13, 13))))
                our_empty = float(balanced_cross_entropy(theirs[0], labels_at(background, (13, 13))))
                result.rows.append(
                    Row(
                        "balanced loss of a batch without foreground",
                        f"{tuple(theirs[0].shape)}",
                        f"{their_empty:.6f} vs {our_empty:.6f}",
                        "the reference divides 0 by 0",
                    )
                )
        if hasattr(main, "criterion_balance"):
            with torch.no_grad():
                losses = project_msc_losses(base, images, labels, settings["segmenter"])
            total_ours = sum(float(v) for v in losses.values())
            result.rows.append(
                Row(
                    "MSC loss summed over the four outputs (main_v2's train loop vs the project's segmenter)",
                    f"{tuple(images.shape)} images",
                    f"{abs(total_theirs - total_ours):.2e} (loss {total_theirs:.6f})",
                    "project terms: " + ", ".join(losses),
                )
            )
        else:
            result.adaptations.append(f"{script} trains with plain cross-entropy: no balanced loss to compare")
        with tempfile.TemporaryDirectory() as folder:
            compare_deeplab_network(Path(folder), settings, result.rows)
    return result


def compare_deeplab_network(folder: Path, settings: dict, rows: list[Row]) -> None:
    """The reference's DeepLabV2-ResNet-101 (libs/models/deeplabv2.py) and the project's segmenter, both
    from one generated ``deeplabv1_resnet101-imagenet.pth`` (BatchNorm values randomised) with the same
    ASPP weights: their inputs for one RGB image, and their logits at the three MSC sizes of a 321 crop."""
    from wsss.models.deeplab_caffe import DEEPLAB_MEAN_BGR, read_deeplab_caffe_resnet
    from wsss.models.segmenter import build_model, network_input, segmenter_from_config
    from wsss.rehearsal.weights import write_deeplab_caffe_resnet

    section = settings["segmenter"]
    if section["init"] != "deeplab_caffe" or section["model"] != "deeplabv2":
        rows.append(Row("DeepLabV2 from deeplabv1_resnet101-imagenet.pth", "-", "skipped", "not the config's init"))
        return
    weights = folder / "deeplabv1_resnet101-imagenet.pth"
    write_deeplab_caffe_resnet(weights, section["backbone"], seed=5)
    state = torch.load(weights)
    generator = torch.Generator().manual_seed(0)
    for key, value in state.items():
        if ".bn." in key and value.is_floating_point():
            value.copy_(torch.rand(value.shape, generator=generator) * 0.5 + 0.5)
    torch.save(state, weights)
    reference = importlib.import_module("libs.models.deeplabv2").DeepLabV2(21, [3, 4, 23, 3], [6, 12, 18, 24])
    missing, _ = reference.load_state_dict(torch.load(weights), strict=False)
    assert all(key.startswith("aspp.") for key in missing), missing
    model_settings, _ = segmenter_from_config(section, [f"class{k}" for k in range(1, 21)])
    model = build_model(model_settings)
    model.backbone.load_state_dict(read_deeplab_caffe_resnet(weights, section["backbone"]), strict=False)
    for index, classifier in enumerate(model.decode_head.aspp):
        classifier.load_state_dict(getattr(reference.aspp, f"c{index}").state_dict())
    reference.eval(), model.eval()
    rgb = np.random.default_rng(4).integers(0, 256, (321, 321, 3), dtype=np.uint8)
    their_input = torch.from_numpy((rgb[:, :, ::-1] - np.float32(DEEPLAB_MEAN_BGR)).transpose(2, 0, 1).copy())[None]
    rows.append(
        Row(
            "network input: BGR minus the mean, unscaled (libs/datasets) vs network_input",
            "321x321 RGB image",
            f"{largest(their_input, network_input(model, rgb)):.2e}",
        )
    )
    with torch.no_grad():
        for size in (321, 161, 241):
            image = F.interpolate(their_input, size=(size, size), mode="bilinear", align_corners=False)
            theirs, ours = reference(image), model.decode_head(model.backbone(image))
            rows.append(
                Row(
                    f"DeepLabV2-R101 logits from one deeplabv1 file (reference vs project, {size} input)",
                    f"(1, 3, {size}, {size})",
                    f"{largest(theirs, ours):.2e} of a largest value {float(theirs.abs().max()):.4g}"
                    f" (relative {largest(theirs, ours) / float(theirs.abs().max()):.1e})",
                    f"output {tuple(theirs.shape[2:])} vs {tuple(ours.shape[2:])}",
                )
            )


# --- CLIP-ES ----------------------------------------------------------------------------------------

CLIP_ES_FILES = (
    "generate_cams_voc12.py",
    "clip/model.py",
    "clip_text.py",
    "utils.py",
    "pytorch_grad_cam/__init__.py",
    "pytorch_grad_cam/base_cam.py",
    "pytorch_grad_cam/grad_cam.py",
    "pytorch_grad_cam/utils/image.py",
)
CLIP_ES_MODULES = ("pytorch_grad_cam", "utils", "clip_text", "generate_cams_voc12")
# A ViT-B/16-like CLIP shrunk: patch 16 (the reference hard-codes it), 10 blocks (its last-8 affinity
# then mixes 8 blocks' attention), a 77-token text tower (its text transformer runs all blocks only
# for 77 tokens).
CLIP_ES_MODEL = dict(
    embed_dim=32,
    image_resolution=64,
    vision_layers=10,
    vision_width=64,
    vision_patch_size=16,
    context_length=77,
    vocab_size=49408,
    transformer_width=64,
    transformer_heads=1,
    transformer_layers=1,
)


def _module_from_file(name: str, path: Path) -> types.ModuleType:
    """``path`` imported as module ``name`` (CLIP-ES's clip/model.py, whose package name ``clip`` is
    OpenAI's package's here)."""
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


@contextlib.contextmanager
def cuda_devices_as_cpu(adaptations: list[str]) -> Iterator[None]:
    """``.to("cuda:N")`` of tensors and modules goes to the CPU (CLIP-ES's worker moves everything to its GPU)."""
    adaptations.append('Tensor.to and Module.to given a "cuda:N" device string move to the CPU')
    tensor_to, module_to = torch.Tensor.to, torch.nn.Module.to

    def on_cpu(args: tuple) -> tuple:
        return tuple("cpu" if isinstance(a, str) and a.startswith("cuda") else a for a in args)

    with (
        mock.patch.object(torch.Tensor, "to", lambda self, *args, **kwargs: tensor_to(self, *on_cpu(args), **kwargs)),
        mock.patch.object(
            torch.nn.Module, "to", lambda self, *args, **kwargs: module_to(self, *on_cpu(args), **kwargs)
        ),
    ):
        yield


def clip_es_images(rng: np.random.Generator, folder: Path, names: Sequence[str]) -> list[dict]:
    """Generated images with 1-3 VOC classes, written as CLIP-ES's worker reads them: JPEGImages/<id>.jpg
    (PNG bytes, so lossless; PIL reads by content) and a VOC Annotations/<id>.xml with size and objects."""
    (folder / "JPEGImages").mkdir(parents=True)
    (folder / "Annotations").mkdir()
    images = []
    for index, (height, width) in enumerate([(75, 100), (100, 75), (75, 100), (64, 64)]):
        classes = sorted(rng.choice(20, size=int(rng.integers(1, 4)), replace=False).tolist())
        image = image_for(rng, blobs(rng, len(classes), height, width))
        image_id = f"2007_{index:06d}"
        Image.fromarray(image).save(folder / "JPEGImages" / f"{image_id}.jpg", format="PNG")
        objects = "".join(f"<object><name>{names[c]}</name></object>" for c in classes)
        xml = f"<annotation><size><width>{width}</width><height>{height}</height></size>{objects}</annotation>"
        (folder / "Annotations" / f"{image_id}.xml").write_text(xml)
        images.append({"id": image_id, "image": image, "keys": np.asarray(classes)})
    return images


def compare_clip_es(root: Path, settings: dict) -> Comparison:
    """CLIP-ES's generate_cams_voc12.perform (its clip/model.py CLIP, GradCAM, scoremap2bbox and
    affinity loop) against wsss.seeds.clip_es_maps on one random CLIP and generated images."""
    from wsss.models.clip_scorer import openai_clip
    from wsss.seeds.clip_es import ClipEsSettings, clip_es_maps
    from wsss.seeds.text import encode_prompts

    require_files(root, CLIP_ES_FILES, "CLIP-ES (linyq2117/CLIP-ES)")
    result = Comparison(f"{root} ({git_commit(root)})")
    torch.manual_seed(0)
    ours = openai_clip().model.CLIP(**CLIP_ES_MODEL).eval()
    with torch.no_grad():  # peaked attention, as a trained CLIP's: a random one's is near uniform, so the
        for block in ours.visual.transformer.resblocks:  # refined maps' range is tiny and their final
            block.attn.in_proj_weight[: 2 * block.attn.embed_dim] *= 4  # min-max would amplify rounding
    template = "a clean origami {}."
    with (
        reference_modules(root, CLIP_ES_MODULES, result.adaptations, ("ttach", "lxml", "lxml.etree")),
        cuda_as_cpu(result.adaptations),
        cuda_devices_as_cpu(result.adaptations),
        tempfile.TemporaryDirectory() as folder,
    ):
        reference_clip = _module_from_file("clip_es_reference_model", root / "clip" / "model.py")
        theirs = reference_clip.CLIP(**CLIP_ES_MODEL)
        theirs.load_state_dict(ours.state_dict())
        theirs.eval()
        generate = importlib.import_module("generate_cams_voc12")
        text = importlib.import_module("clip_text")
        generate.device = "cpu"  # a global its zeroshot_classifier reads, set in its __main__
        generate.etree = xml.etree.ElementTree
        result.adaptations += [
            "clip/model.py loaded from its file as another module name (`clip` is OpenAI's package here, "
            "whose clip.tokenize generate_cams_voc12 then uses)",
            "generate_cams_voc12: the global `device` is 'cpu'; lxml.etree is the standard library's "
            "xml.etree.ElementTree (lxml is not installed; fromstring and element iteration are alike)",
        ]
        fg_theirs = generate.zeroshot_classifier(text.new_class_names, [template], theirs)
        bg_theirs = generate.zeroshot_classifier(text.BACKGROUND_CATEGORY, [template], theirs)
        fg_ours = encode_prompts(ours, text.new_class_names, template)
        bg_ours = encode_prompts(ours, text.BACKGROUND_CATEGORY, template)
        result.rows.append(
            Row(
                "text features: zeroshot_classifier vs encode_prompts",
                f"{len(fg_ours)} classes + {len(bg_ours)} background words, '{template}'",
                f"{max(largest(fg_theirs, fg_ours), largest(bg_theirs, bg_ours)):.2e}",
            )
        )
        images = clip_es_images(np.random.default_rng(3), Path(folder), text.class_names)
        refined: list[np.ndarray] = []
        scale_cam_image = generate.scale_cam_image

        def recording(cams, target_size=None):  # the refined map before perform casts it to fp16
            out = scale_cam_image(cams, target_size)
            refined.append(out[0])
            return out

        generate.scale_cam_image = recording
        result.adaptations.append(
            "generate_cams_voc12.scale_cam_image records the refined full-size maps (attn_highres before its fp16 cast)"
        )
        cam = importlib.import_module("pytorch_grad_cam").GradCAM(
            model=theirs,
            target_layers=[theirs.visual.transformer.resblocks[-1].ln_1],
            reshape_transform=generate.reshape_transform,
        )
        out_dir = Path(folder) / "cams"
        out_dir.mkdir()
        arguments = types.SimpleNamespace(img_root=str(Path(folder) / "JPEGImages"), cam_out_dir=str(out_dir))
        names = [f"{image['id']}.jpg" for image in images]
        generate.perform(0, [names], arguments, theirs, bg_theirs, fg_theirs, cam)
        start, full, saved, differing, total = 0, 0.0, 0.0, 0, 0
        for image in images:
            count = len(image["keys"])
            reference = np.stack(refined[start : start + count])
            start += count
            [(maps, _)] = clip_es_maps(
                ours, image["image"][None], [image["keys"]], fg_ours, bg_ours, ClipEsSettings(), None
            )
            written = np.load(out_dir / f"{image['id']}.npy", allow_pickle=True).item()
            assert (written["keys"] == image["keys"]).all()
            full = max(full, largest(reference, maps))
            saved = max(saved, largest(written["attn_highres"], maps.astype(np.float16)))
            differing += int((written["attn_highres"] != maps.astype(np.float16)).sum())
            total += maps.size
        sizes = sorted({image["image"].shape[:2] for image in images})
        inputs = f"{len(images)} images {sizes}, {sum(len(i['keys']) for i in images)} (image, class) pairs"
        result.rows += [
            Row("refined maps: perform's attn_highres before fp16 vs clip_es_maps", inputs, f"{full:.2e}"),
            Row(
                "the saved fp16 attn_highres vs clip_es_maps cast to fp16",
                inputs,
                f"{saved:.2e}",
                share(differing, total, "values"),
            ),
        ]
    return result


# --- output -----------------------------------------------------------------------------------------


def table(comparison: Comparison) -> str:
    lines = [
        f"reference: {comparison.checkout}",
        "",
        "| comparison | input | largest difference (reference vs project) | differing |",
        "|---|---|---|---|",
    ]
    lines += [f"| {r.comparison} | {r.inputs} | {r.largest_difference} | {r.differing} |" for r in comparison.rows]
    lines += ["", "Adaptations of the reference code to run here:"]
    lines += [f"- {a}" for a in comparison.adaptations] or ["- none"]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> None:
    from wsss.config import effective_config

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--irn", type=Path, help="checkout of jiwoon-ahn/irn or CVI-SZU/CLIMS")
    parser.add_argument("--deeplab", type=Path, help="checkout of deeplab-pytorch or CLIMS' segmentation/deeplabv2")
    parser.add_argument("--clip-es", type=Path, help="checkout of linyq2117/CLIP-ES")
    parser.add_argument("--config", default="configs/voc12.yaml", help="the settings both sides get")
    args = parser.parse_args(argv)
    if not (args.irn or args.deeplab or args.clip_es):
        parser.error("give --irn, --deeplab, --clip-es or several")
    settings = effective_config([args.config])
    print(f"settings: {args.config}; torch {torch.__version__}, numpy {np.__version__}\n")
    comparisons: list[tuple[Path | None, Callable[[Path, dict], Comparison]]] = [
        (args.irn, compare_irn),
        (args.deeplab, compare_deeplab),
        (args.clip_es, compare_clip_es),
    ]
    for root, compare in comparisons:
        if root is not None:
            try:
                print(table(compare(root.resolve(), settings)), end="\n\n", flush=True)
            except ConfigError as error:
                sys.exit(f"error: {error}")


if __name__ == "__main__":
    main()
