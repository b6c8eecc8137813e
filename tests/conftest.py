"""Shared fixtures: tiny VOC-layout datasets written into the test's temporary folder."""

import functools
import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest
from PIL import Image

from wsss.data.manifest import DatasetManifest
from wsss.data.voc_writer import write_annotation, write_split
from wsss.io import save_label_png

REPO = Path(__file__).resolve().parents[1]
SNAKEMAKE = str(Path(sys.executable).parent / "snakemake")


@functools.cache
def _load_script(folder: str, name: str) -> ModuleType:
    """``<REPO>/<folder>/<name>.py`` as a module named ``<folder>.<name>`` (so never mistaken for another
    module of that name), loaded once; sys.path is left alone."""
    path = REPO / folder / f"{name}.py"
    if not path.is_file():
        raise FileNotFoundError(f"no {folder} script {path}")
    module_name = f"{folder}.{name}"
    spec = importlib.util.spec_from_file_location(module_name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module  # as an import would: dataclasses and pickling look modules up there
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[module_name]
        raise
    return module


def load_stage(name: str) -> ModuleType:
    """The stage script ``stages/<name>.py`` as a module (the one way tests reach a stage)."""
    return _load_script("stages", name)


def load_tool(name: str) -> ModuleType:
    """The tool script ``tools/<name>.py`` as a module (the one way tests reach a tool)."""
    return _load_script("tools", name)


def _tiny_clip_architecture():
    from wsss.demo.clip import DemoClipArchitecture

    return DemoClipArchitecture(
        embed_dim=64,
        image_resolution=32,
        vision_layers=1,
        vision_width=64,
        vision_patch_size=8,
        context_length=16,
        text_width=64,
        text_layers=1,
    )


TINY_CLIP = _tiny_clip_architecture()


class CodePayload:
    """Unpickling this runs code: it creates ``marker`` (a stand-in for a hostile file's payload)."""

    def __init__(self, marker: Path):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


BENCHMARK_HEADER = "s\th:m:s\tmax_rss\tmax_vms\tmax_uss\tmax_pss\tio_in\tio_out\tmean_load\tcpu_time\n"


def write_benchmark(folder: Path, rule: str, seconds: float, max_rss_mb: float) -> None:
    """A Snakemake benchmark file ``folder/<rule>.tsv`` with this wall time and peak RSS (the rest 0)."""
    (folder / f"{rule}.tsv").write_text(BENCHMARK_HEADER + f"{seconds}\t0:00:00\t{max_rss_mb}\t0\t0\t0\t0\t0\t0\t0\n")


def write_code_payload(path: Path, marker: Path) -> None:
    """A torch.save'd checkpoint look-alike whose loading with weights_only=False creates ``marker``."""
    import torch

    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"model": CodePayload(marker), "meta": {}, "state_dict": {}}, path)


def tiny_manifest(**overrides) -> DatasetManifest:
    data = {
        "name": "tiny",
        "classes": ["cat", {"name": "diningtable", "text": "dining table"}],
        "background_prompts": ["floor"],
    }
    data.update(overrides)
    return DatasetManifest.from_dict(data, "tiny manifest")


def write_tiny_voc(root: Path, n: int = 3, size: tuple[int, int] = (20, 30)) -> list[str]:
    """Write ``n`` images with masks and XML annotations: image i holds class (i % 2) + 1."""
    ids = [f"2007_{i:06d}" for i in range(n)]
    rng = np.random.default_rng(0)
    for i, image_id in enumerate(ids):
        rgb = rng.integers(0, 255, size=(*size, 3), dtype=np.uint8)
        (root / "JPEGImages").mkdir(parents=True, exist_ok=True)
        Image.fromarray(rgb).save(root / "JPEGImages" / f"{image_id}.jpg")
        mask = np.zeros(size, dtype=np.uint8)
        label = i % 2 + 1
        mask[5:15, 5:20] = label
        mask[4, 5:20] = 255
        save_label_png(root / "SegmentationClass" / f"{image_id}.png", mask)
        name = ["cat", "diningtable"][label - 1]
        write_annotation(root / "Annotations" / f"{image_id}.xml", f"{image_id}.jpg", size, [(name, (6, 6, 20, 15))])
    write_split(root / "ImageSets" / "Segmentation" / "train.txt", ids)
    return ids


def write_turned_jpeg(path: Path, displayed: np.ndarray, orientation: int) -> np.ndarray:
    """Save ``displayed`` (H, W, 3) as a JPEG stored a quarter turn away, with the EXIF ``orientation``
    (6 or 8) that turns it back; return the pixels as decoded and turned (what a viewer shows)."""
    stored = np.rot90(displayed, k=1 if orientation == 6 else -1)
    exif = Image.Exif()
    exif[0x0112] = orientation
    Image.fromarray(np.ascontiguousarray(stored)).save(path, exif=exif, quality=95)
    decoded = np.asarray(Image.open(path).convert("RGB"))
    return np.rot90(decoded, k=-1 if orientation == 6 else 1)


@pytest.fixture
def tiny_voc(tmp_path):
    root = tmp_path / "VOC"
    ids = write_tiny_voc(root)
    return root, ids


@pytest.fixture(scope="session")
def tiny_clip_checkpoint(tmp_path_factory):
    """A randomly initialised, very small CLIP saved like an OpenAI checkpoint."""
    import torch

    from wsss.demo.clip import build_demo_clip
    from wsss.models.clip_scorer import export_torchscript

    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("clip") / "tiny_clip.pt"
    export_torchscript(build_demo_clip(TINY_CLIP), str(path))
    return path


@pytest.fixture(scope="session")
def micro_run(tmp_path_factory):
    """(working directory, config) of a finished micro run, done once per session and shared by the
    workflow tests that read its results; they may dry-run it but not change its files."""
    from workflow_helpers import shipped, snakemake

    workdir = tmp_path_factory.mktemp("micro")
    config = shipped("micro")
    snakemake(workdir, config)
    return workdir, config


def train_tiny_segmenter(root, manifest, labels, checkpoint, **overrides) -> None:
    """One iteration of a tiny DeepLabV2-R18 through the train_seg stage (history beside the checkpoint)."""
    train_seg = load_stage("train_seg").train_seg
    settings = dict(
        model="deeplabv2",
        backbone="resnet18",
        iterations=1,
        batch_size=2,
        accumulation=1,
        crop_size=32,
        base_size=32,
        optimizer="adamw",
        lr=1e-3,
        checkpoint_interval=1,
    )
    settings.update(overrides)
    train_seg(
        str(root),
        str(manifest),
        str(labels),
        str(checkpoint),
        str(checkpoint) + ".json",
        split="train",
        **settings,
    )
