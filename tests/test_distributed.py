"""Training in 2 CPU processes (torchrun, gloo) equals 1 process with the same global batch; rank 0 writes.

The stages run from the command line with ``--devices 2``, so they relaunch themselves under
torch.distributed.run exactly as under Snakemake. Losses and weights may differ only by the order
of float additions (DDP averages two half-batch gradients): relative 1e-4 on the epoch losses,
absolute 1e-4 on every weight after the last step.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from conftest import REPO, write_tiny_voc

from wsss.distributed import EpochShuffle, sync_batchnorm
from wsss.io import save_label_png
from wsss.layers import FixedBatchNorm2d
from wsss.models.backbone import ResNetBackbone

LOSS_RTOL, WEIGHT_ATOL = 1e-4, 1e-4

# Wraps torch.save in every process (torchrun's children inherit PYTHONPATH): one line per save,
# with the saving rank and the file, so a test sees who wrote what and how often.
SAVE_RECORDER = """
import os
import torch

_save = torch.save


def _recorded_save(obj, f, *args, **kwargs):
    with open(os.environ["WSSS_TEST_SAVES"], "a") as record:
        record.write(f"{os.environ.get('RANK', 'single')} {f}\\n")
    return _save(obj, f, *args, **kwargs)


torch.save = _recorded_save
"""


@pytest.fixture(scope="module")
def tiny_data(tmp_path_factory):
    """8 images (2 global batches of 4), a manifest, random IR labels and the save recorder."""
    tmp = tmp_path_factory.mktemp("distributed")
    root = tmp / "VOC"
    ids = write_tiny_voc(root, n=8, size=(32, 40))
    manifest = tmp / "manifest.yaml"
    manifest.write_text(
        yaml.safe_dump({"name": "tiny", "classes": ["cat", "diningtable"], "background_prompts": ["floor"]})
    )
    rng = np.random.default_rng(0)
    for image_id in ids:
        labels = rng.choice(np.array([0, 1, 2, 255], dtype=np.uint8), size=(32, 40), p=[0.5, 0.2, 0.2, 0.1])
        save_label_png(tmp / "ir_labels" / f"{image_id}.png", labels)
    (tmp / "recorder").mkdir()
    (tmp / "recorder" / "sitecustomize.py").write_text(SAVE_RECORDER)
    return tmp, root, manifest


def run(stage: str, tmp: Path, name: str, devices: int, **arguments) -> tuple[dict, dict, list[str]]:
    """Run ``stages/<stage>.py`` from the command line; return (history, final weights, saves as 'rank file')."""
    out = tmp / f"{name}_{devices}"
    out.mkdir()
    saves = out / "saves.txt"
    arguments.update(checkpoint=str(out / "model.pt"), history=str(out / "model.json"), devices=devices, threads=2)
    command = [sys.executable, str(REPO / "stages" / f"{stage}.py"), "--log-file", str(out / "log.txt")]
    for key, value in arguments.items():
        command += [f"--{key.replace('_', '-')}", json.dumps(value)]
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(tmp / "recorder"), str(REPO)]),
        "WSSS_TEST_SAVES": str(saves),
    }
    result = subprocess.run(command, capture_output=True, text=True, env=env, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    history = json.loads((out / "model.json").read_text())
    weights = torch.load(out / "model.pt", map_location="cpu", weights_only=True)["model"]
    return history, weights, saves.read_text().splitlines()


def assert_same_training(one: tuple, two: tuple, epochs: int, checkpoint_name: str) -> None:
    (history1, weights1, _), (history2, weights2, saves2) = one, two
    assert len(history1["epochs"]) == len(history2["epochs"]) == epochs
    for record1, record2 in zip(history1["epochs"], history2["epochs"]):
        assert record1.keys() == record2.keys()
        for term in record1:
            assert record2[term] == pytest.approx(record1[term], rel=LOSS_RTOL, abs=1e-5), term
    assert weights1.keys() == weights2.keys()
    for key in weights1:
        torch.testing.assert_close(weights2[key], weights1[key], atol=WEIGHT_ATOL, rtol=0, msg=key)
    assert history2["processes"] == 2 and history1["processes"] == 1
    # Rank 0 alone writes: the final checkpoint once, the resume state once per epoch.
    ranks = {line.split()[0] for line in saves2}
    assert ranks == {"0"}, saves2
    assert sum(Path(line.split()[1]).name.startswith(f".{checkpoint_name}.") for line in saves2) == 1, saves2
    assert sum(Path(line.split()[1]).name.startswith(".last.pt.") for line in saves2) == epochs, saves2


CROPS = dict(crop_size=32, resize_long=[28, 36], optimizer="sgd", momentum=0.9, seed=3)


@pytest.mark.slow
def test_train_cam_and_train_irn_in_two_processes_equal_one(tiny_data):
    """train_cam with FixedBatchNorm (the real configs') and train_irn (frozen backbone, masked means
    whose counts differ between the processes): 2 epochs of 2 steps each."""
    tmp, root, manifest = tiny_data
    data = dict(root=str(root), manifest=str(manifest))
    cam = dict(**data, **CROPS, backbone="resnet18", epochs=2, batch_size=4, lr=0.05, freeze_bn=True)
    cam_runs = [run("train_cam", tmp, "cam", devices, **cam) for devices in (1, 2)]
    assert_same_training(*cam_runs, epochs=2, checkpoint_name="model.pt")

    irn = dict(**data, ir_labels=str(tmp / "ir_labels"), cam_checkpoint=str(tmp / "cam_1" / "model.pt"))
    irn.update(CROPS, resize_long=None, rescale_range=[0.9, 1.1], radius=3, epochs=2, batch_size=4, lr=0.05)
    irn_runs = [run("train_irn", tmp, "irn", devices, **irn) for devices in (1, 2)]
    assert_same_training(*irn_runs, epochs=2, checkpoint_name="model.pt")


def test_each_process_takes_every_other_index_of_the_same_whole_global_batches(monkeypatch):
    orders = {}
    for rank in range(2):
        monkeypatch.setenv("RANK", str(rank))
        monkeypatch.setenv("WORLD_SIZE", "2")
        sampler = EpochShuffle(11, 4, seed=5)  # 2 whole global batches; 3 images left out
        sampler.set_epoch(1)
        orders[rank] = list(sampler)
        assert len(sampler) == 4
    monkeypatch.delenv("RANK")
    monkeypatch.delenv("WORLD_SIZE")
    single = EpochShuffle(11, 4, seed=5)
    single.set_epoch(1)
    whole = list(single)
    assert whole == torch.randperm(11, generator=torch.Generator().manual_seed(6)).tolist()[:8]
    for step in range(2):  # step s's two half-batches together are the s-th global batch
        halves = orders[0][2 * step : 2 * step + 2] + orders[1][2 * step : 2 * step + 2]
        assert sorted(halves) == sorted(whole[4 * step : 4 * step + 4])


def test_syncbatchnorm_replaces_trained_batchnorm_only():
    trained = sync_batchnorm(ResNetBackbone("resnet18", 16))
    frozen = sync_batchnorm(ResNetBackbone("resnet18", 16, fixed_batchnorm=True))
    assert isinstance(trained.stem[1], torch.nn.SyncBatchNorm) and isinstance(
        trained.layer4[0].bn2, torch.nn.SyncBatchNorm
    )
    assert not any(type(m) is torch.nn.BatchNorm2d for m in trained.modules())
    assert not any(isinstance(m, torch.nn.SyncBatchNorm) for m in frozen.modules())
    assert isinstance(frozen.stem[1], FixedBatchNorm2d)
    assert set(trained.state_dict()) == set(ResNetBackbone("resnet18", 16).state_dict())  # checkpoints unchanged
