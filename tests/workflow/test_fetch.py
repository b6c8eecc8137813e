"""Datasets fetched by the download rules from an HTTP server on 127.0.0.1 (no internet): miniature VOC,
SBD and COCO archives in the real layouts, served whole, with other bytes, cut short, or with the
connection dropped halfway; and the one offline message."""

import hashlib
import http.server
import os
import shutil
import subprocess
import tarfile
import threading
import zipfile
from pathlib import Path

import pytest
import yaml
from conftest import REPO
from snakemake.utils import update_config
from workflow_helpers import place_released_files, planned_jobs, shipped, snakemake_command

from wsss.data.manifest import DatasetManifest
from wsss.rehearsal.coco import write_coco
from wsss.rehearsal.voc_sbd import write_voc_sbd


class ArchiveServer(http.server.ThreadingHTTPServer):
    """Serves ``files`` (name -> bytes) at /<name>; /drop/<name> announces the whole file but closes the
    socket after half of it; every request's path is noted in ``requests``."""

    def __init__(self, files: dict[str, bytes]):
        self.files, self.requests = files, []
        super().__init__(("127.0.0.1", 0), ArchiveHandler)

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.server_port}/{path}"


class ArchiveHandler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.server.requests.append(self.path)
        dropped = self.path.startswith("/drop/")
        body = self.server.files.get(self.path.removeprefix("/drop/").lstrip("/"))
        if body is None:
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body[: len(body) // 2] if dropped else body)
        if dropped:
            self.wfile.flush()
            self.connection.shutdown(2)
            self.close_connection = True

    def log_message(self, *args):
        pass


def tar_folder(source: Path, folder: str, mode: str) -> bytes:
    archive = source.parent / f"{source.name}.{mode}.archive"
    with tarfile.open(archive, mode) as tar:
        tar.add(source / folder, arcname=folder)
    return archive.read_bytes()


def zip_folder(source: Path, folder: str) -> bytes:
    archive = source.parent / f"{folder}.zip"
    with zipfile.ZipFile(archive, "w") as package:
        for path in sorted((source / folder).rglob("*")):
            package.write(path, path.relative_to(source))
    return archive.read_bytes()


@pytest.fixture(scope="module")
def archives(tmp_path_factory) -> dict[str, bytes]:
    """The published archives' names -> miniature contents, as `make rehearse` writes the datasets."""
    made = tmp_path_factory.mktemp("archives")
    write_voc_sbd(made / "voc", list(DatasetManifest.load(REPO / "data_manifest/voc12.yaml").class_names))
    write_coco(made / "coco", list(DatasetManifest.load(REPO / "data_manifest/coco14.yaml").class_names))
    return {
        "VOCtrainval_11-May-2012.tar": tar_folder(made / "voc", "VOCdevkit", "w"),
        "benchmark.tgz": tar_folder(made / "voc", "benchmark_RELEASE", "w:gz"),
        "train2014.zip": zip_folder(made / "coco", "train2014"),
        "val2014.zip": zip_folder(made / "coco", "val2014"),
        "annotations_trainval2014.zip": zip_folder(made / "coco", "annotations"),
    }


@pytest.fixture
def server(archives):
    served = ArchiveServer(dict(archives))
    thread = threading.Thread(target=served.serve_forever, daemon=True)
    thread.start()
    yield served
    served.shutdown()
    served.server_close()


SOURCES = {
    "voc2012": "VOCtrainval_11-May-2012.tar",
    "sbd": "benchmark.tgz",
    "coco_train2014": "train2014.zip",
    "coco_val2014": "val2014.zip",
    "coco_annotations2014": "annotations_trainval2014.zip",
}


def fetch_config(name: str, server: ArchiveServer, archives: dict[str, bytes], workdir: Path, **paths) -> dict:
    """The shipped config ``name`` with fetch.sources on the local server (the archives' true size and md5)."""
    config = place_released_files(workdir, shipped(name))
    config["fetch"] = {
        "sources": {
            key: {
                "url": server.url(paths.get(key, file)),
                "file": file,
                "bytes": len(archives[file]),
                "md5": hashlib.md5(archives[file]).hexdigest(),
            }
            for key, file in SOURCES.items()
        }
    }
    if "voc_sbd" in config:
        config["voc_sbd"]["expected_counts"] = {"train": 3, "val": 2, "train_aug": 7}  # write_voc_sbd's
    (workdir / "weights").mkdir(exist_ok=True)
    (workdir / "weights/deeplabv1_resnet101-imagenet.pth").touch()
    return config


def run(workdir: Path, config: dict, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "TORCH_HOME": str(workdir / "torch")}
    command = snakemake_command(workdir, config, *args)
    return subprocess.run(command, capture_output=True, text=True, timeout=300, env=env)


def test_voc_and_sbd_are_downloaded_checked_unpacked_and_prepared_once(tmp_path, server, archives):
    config = fetch_config("voc12", server, archives, tmp_path)
    first = run(tmp_path, config, "data/voc12_aug")
    assert first.returncode == 0, first.stdout[-3000:] + first.stderr[-3000:]
    jobs = planned_jobs(first)
    assert {rule: jobs.get(rule) for rule in ("download_archive", "unpack_voc", "unpack_sbd", "prepare_voc_sbd")} == {
        "download_archive": 2,
        "unpack_voc": 1,
        "unpack_sbd": 1,
        "prepare_voc_sbd": 1,
    }
    assert sorted(p.name for p in (tmp_path / "data/VOCdevkit/VOC2012").iterdir() if p.name[0] != ".") == [
        "Annotations",
        "ImageSets",
        "JPEGImages",
        "SegmentationClass",
    ]
    assert (tmp_path / "data/benchmark_RELEASE/dataset/train.txt").is_file()
    assert len((tmp_path / "data/voc12_aug/ImageSets/Segmentation/train_aug.txt").read_text().split()) == 7
    # Nothing half-made is left: no archives (deleted once unpacked), no .part, no staging folder.
    assert sorted(p.name for p in (tmp_path / "data").iterdir()) == [
        "VOCdevkit",
        "benchmark_RELEASE",
        "voc12_aug",
        "voc12_aug.summary.json",
    ]
    assert not (tmp_path / "data/downloads").exists() or not any((tmp_path / "data/downloads").iterdir())

    downloads = len(server.requests)
    again = run(tmp_path, config, "-n")
    assert again.returncode == 0, again.stdout[-3000:] + again.stderr[-3000:]
    assert {"download_archive", "unpack_voc", "unpack_sbd", "prepare_voc_sbd"}.isdisjoint(planned_jobs(again))
    assert {"train_clims", "train_seg"} <= set(planned_jobs(again))
    assert len(server.requests) == downloads  # the second run downloads nothing


def test_coco_is_unpacked_from_its_three_archives(tmp_path, server, archives):
    config = fetch_config("coco14", server, archives, tmp_path)
    result = run(tmp_path, config, "data/coco")
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert planned_jobs(result) == {"download_archive": 3, "unpack_coco": 1}
    coco = tmp_path / "data/coco"
    assert sorted(p.name for p in coco.iterdir() if p.name[0] != ".") == ["annotations", "train2014", "val2014"]
    assert (coco / "annotations/instances_train2014.json").is_file()
    dry = run(tmp_path, config, "-n")
    assert dry.returncode == 0, dry.stdout[-3000:] + dry.stderr[-3000:]
    assert "prepare_coco" in planned_jobs(dry) and "download_archive" not in planned_jobs(dry)


@pytest.mark.parametrize(
    "fault, message",
    [
        ("checksum", "has md5 {found}, expected {wrong}; the file was deleted"),
        ("truncated", "got {half} bytes of benchmark.tgz, expected {size}"),
        ("dropped", "got {half} bytes of benchmark.tgz, expected {size}"),
    ],
)
def test_a_bad_download_is_deleted_said_and_never_unpacked(tmp_path, server, archives, fault, message):
    body = archives["benchmark.tgz"]
    config = fetch_config(
        "voc12", server, archives, tmp_path, **({"sbd": "drop/benchmark.tgz"} if fault == "dropped" else {})
    )
    sbd = config["fetch"]["sources"]["sbd"]
    wrong = "0" * 32
    if fault == "checksum":
        sbd["md5"] = wrong
    if fault == "truncated":
        server.files["benchmark.tgz"] = body[: len(body) // 2]
    result = run(tmp_path, config, "data/benchmark_RELEASE/dataset")
    assert result.returncode != 0
    log = (tmp_path / "results/voc12/logs/download_archive_benchmark.tgz.log").read_text()
    expected = message.format(found=hashlib.md5(body).hexdigest(), wrong=wrong, half=len(body) // 2, size=len(body))
    assert expected in log
    assert not (tmp_path / "data/benchmark_RELEASE").exists()
    downloads = tmp_path / "data/downloads"
    assert not downloads.exists() or list(downloads.iterdir()) == []  # no archive, no .part

    if fault != "dropped":
        return
    server.files["benchmark.tgz"] = body  # the connection holds: the next run starts the download over
    sbd.update(url=server.url("benchmark.tgz"), md5=hashlib.md5(body).hexdigest())
    mended = run(tmp_path, config, "data/benchmark_RELEASE/dataset")
    assert mended.returncode == 0, mended.stdout[-3000:] + mended.stderr[-3000:]
    assert (tmp_path / "data/benchmark_RELEASE/dataset/cls").is_dir()


def test_offline_every_missing_input_is_listed_in_one_message_before_any_job(tmp_path):
    config = place_released_files(tmp_path, shipped("voc12"))
    config["fetch"] = {"enabled": False}
    result = run(tmp_path, config)
    assert result.returncode != 0
    output = result.stdout + result.stderr
    torch_cache = tmp_path / "torch/hub/checkpoints/resnet50-0676ba61.pth"
    for line in [
        "fetch.enabled is false (nothing is downloaded) and these inputs are missing:",
        "  - voc_sbd.voc_root: data/VOCdevkit/VOC2012 is missing",
        "unpack VOCtrainval_11-May-2012.tar (2.0 GB, https://thor.robots.ox.ac.uk/pascal/VOC/voc2012/",
        "  - voc_sbd.sbd_root: data/benchmark_RELEASE/dataset is missing",
        "  - irn.pretrained: torchvision:resnet50.IMAGENET1K_V1 is not in torch's cache: put "
        f"https://download.pytorch.org/models/resnet50-0676ba61.pth at {torch_cache}",
        "  - segmenter.pretrained: weights/deeplabv1_resnet101-imagenet.pth is missing: put with segmenter.init "
        "deeplab_caffe, deeplab-pytorch's deeplabv1_resnet101-imagenet.pth",
        "  - clip.model: weights/clip/ViT-B-32.pt is missing: put OpenAI's ViT-B/32 (clip.load downloads it "
        "when online)",
    ]:
        assert line in output, output[-3000:]
    assert "Job stats" not in output and not (tmp_path / "results").exists()


def test_an_unknown_torchvision_weights_name_is_refused_when_the_workflow_is_read(tmp_path):
    config = place_released_files(tmp_path, shipped("voc12"))
    config["irn"]["pretrained"] = "torchvision:resnet50.IMAGENET1K_V9"
    result = run(tmp_path, config, "-n")
    assert result.returncode != 0
    assert (
        "pretrained torchvision:resnet50.IMAGENET1K_V9: not a torchvision ImageNet ResNet"
        in result.stdout + result.stderr
    )


def test_a_download_stops_before_it_starts_when_the_disk_is_too_small(tmp_path, monkeypatch):
    from wsss.data import download
    from wsss.errors import DatasetError

    monkeypatch.setattr(shutil, "disk_usage", lambda folder: shutil._ntuple_diskusage(10**10, 9 * 10**9, 10**9))
    with pytest.raises(
        DatasetError,
        match=r"benchmark.tgz is 1.4 GB, and unpacking it needs about 2.8 GB free in all, "
        r"but the disk has 1.0 GB free",
    ):
        download.fetch_archive("http://127.0.0.1:9/benchmark.tgz", tmp_path / "benchmark.tgz", 1419539633)
    assert list(tmp_path.iterdir()) == []


def test_offline_the_clip_es_variant_lists_its_vit_b16_and_no_cam_network_weights(tmp_path):
    config = shipped("voc12")
    update_config(config, yaml.safe_load((REPO / "configs" / "voc12_clip_es.yaml").read_text()))
    config["fetch"] = {"enabled": False}
    result = run(tmp_path, place_released_files(tmp_path, config))
    assert result.returncode != 0
    output = result.stdout + result.stderr
    assert "  - clip_es.model: weights/clip/ViT-B-16.pt is missing" in output
    assert "  - maskclip.model: weights/clip/ViT-B-16.pt is missing" in output
    assert "  - clip.model:" not in output and "irn.pretrained" not in output and "train_cam.pretrained" not in output
