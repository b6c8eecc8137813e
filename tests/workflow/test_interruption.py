"""Interrupted runs: a stage process killed (SIGKILL to Snakemake's whole process group) in the
middle of its work; the next run makes again what was lost, resumes what it may, and leaves no
temporary folder behind. Each test works on a copy of the session's finished micro run."""

import copy
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from workflow_helpers import planned_jobs, snakemake, snakemake_command

pytestmark = pytest.mark.slow


def copy_of(micro_run, tmp_path: Path) -> tuple[Path, dict, Path]:
    """A copy of the finished micro run (times kept, so nothing is out of date): workdir, config, results."""
    workdir = tmp_path / "run"
    shutil.copytree(micro_run[0], workdir, symlinks=True)
    return workdir, copy.deepcopy(micro_run[1]), workdir / "results" / "micro"


def target(workdir: Path, path: Path) -> str:
    """``path`` as Snakemake names it: relative to the working directory."""
    return str(path.relative_to(workdir))


def kill_when(workdir: Path, config: dict, args: list[str], ready: Callable[[], bool], timeout: float = 300) -> None:
    """Start Snakemake with ``args``; once ``ready()`` holds, SIGKILL it and every process it started."""
    with (workdir / "killed_run.log").open("w") as output:
        process = subprocess.Popen(
            snakemake_command(workdir, config, *args), stdout=output, stderr=subprocess.STDOUT, start_new_session=True
        )
    deadline = time.monotonic() + timeout
    try:
        while not ready():
            assert process.poll() is None, (
                "the run ended before it could be killed:\n" + (workdir / "killed_run.log").read_text()[-3000:]
            )
            assert time.monotonic() < deadline, "the stage never reached the point to kill it"
            time.sleep(0.02)
    finally:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def test_a_killed_train_clims_is_trained_again_from_its_last_epoch(micro_run, tmp_path):
    workdir, config, results = copy_of(micro_run, tmp_path)
    config["clims"]["epochs"] = 4  # a few epochs, to be killed between them
    resume = results / "models" / "clims_cam.pt.resume" / "last.pt"
    kill_when(workdir, config, ["-R", "train_clims"], resume.is_file)
    assert not (results / "models" / "clims_cam.pt").exists()  # Snakemake removed it when the job started

    snakemake(workdir, config, "--unlock")
    planned = planned_jobs(snakemake(workdir, config, "-n"))  # not "Nothing to be done"
    assert planned["train_clims"] == 1 and planned["make_cam"] == 1 and planned["train_seg"] == 1
    assert "train_cam" not in planned

    snakemake(workdir, config, target(workdir, results / "models" / "clims_cam.pt"))
    log = (results / "logs" / "train_clims.log").read_text()
    assert f"resuming from {target(workdir, resume)} after epoch" in log and "epoch 4/4" in log
    assert (results / "models" / "clims_cam.pt").is_file() and not resume.parent.exists()
    planned = planned_jobs(snakemake(workdir, config, "-n"))  # what was made from the old model follows
    assert "train_clims" not in planned and planned["make_cam"] == 1 and planned["train_seg"] == 1


def test_a_killed_make_cam_leaves_no_temporary_folder_after_its_next_run(micro_run, tmp_path):
    workdir, config, results = copy_of(micro_run, tmp_path)
    slower = copy.deepcopy(config)
    slower["make_cam"]["scales"] = [1.0, 0.5, 1.5, 2.0, 2.5]  # to be killed while it writes
    shard = results / "shards" / "cams" / "clims" / "0"
    leftovers = lambda: list(shard.parent.glob(".0.*.tmp"))  # noqa: E731
    kill_when(workdir, slower, [target(workdir, shard)], lambda: any(any(f.iterdir()) for f in leftovers()))
    assert not shard.exists() and leftovers()  # the CAMs written so far, in the hidden temporary folder

    snakemake(workdir, config, "--unlock")
    assert planned_jobs(snakemake(workdir, config, "-n"))["make_cam"] == 1  # the lost shard, not the baseline's
    snakemake(workdir, config, target(workdir, shard))
    assert leftovers() == [] and len(list(shard.glob("*.npz"))) == 24
