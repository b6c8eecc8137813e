"""The micro DAG through a real one-node SLURM (tools/local_slurm.py) with the project's slurm profile and
sharding on gives the same CAMs, labels and reports as the local run.

Needs root and Debian's slurmctld, slurmd, slurm-client and munge (.ci/run installs them); skips
saying which is missing otherwise.
"""

import os

import pytest
from conftest import REPO, load_tool
from workflow_helpers import assert_same_results, shipped, snakemake


@pytest.fixture
def cluster(tmp_path):
    """A running one-node SLURM (the environment its commands need); every daemon stopped by pid after."""
    slurm = load_tool("local_slurm")
    why = slurm.missing()
    if why:
        pytest.skip(f"no local SLURM: {why}")
    folder = tmp_path / "slurm"
    slurm.start(folder)
    try:
        yield slurm.environment(folder)
    finally:
        stopped = slurm.stop(folder)
        assert len(stopped) == 3
        for pid in stopped:
            with pytest.raises(ProcessLookupError):
                os.kill(pid, 0)


@pytest.mark.slow
def test_micro_run_on_slurm_with_shards_equals_the_local_run(micro_run, cluster, tmp_path):
    config = shipped("micro")
    config["shards"] = {"make_cam": 2, "ir_label": 2, "make_pseudo_labels": 2, "eval_seg": 2}
    workdir = tmp_path / "run"
    workdir.mkdir()
    result = snakemake(
        workdir,
        config,
        "--executor",
        "slurm",
        "--workflow-profile",
        str(REPO / "profiles" / "slurm"),
        "--default-resources",
        "slurm_partition=main",
        "--slurm-no-account",
        "--slurm-status-command",
        "squeue",
        "--slurm-init-seconds-before-status-checks",
        "1",
        "--seconds-between-status-checks",
        "2",
        env={**cluster, "PYTHONPATH": str(REPO)},
    )
    output = result.stdout + result.stderr
    assert output.count("has been submitted with SLURM jobid") >= 20  # every job went through sbatch
    assert len(list((workdir / "results" / "micro" / "shards" / "cams" / "clims").iterdir())) == 2
    assert_same_results(micro_run[0] / "results" / "micro", workdir / "results" / "micro")
