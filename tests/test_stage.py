"""The stage command line: YAML values, defaults, required arguments, threads and the run record."""

import os
import subprocess
import sys

import pytest
import torch

from wsss.provenance import run_record
from wsss.stage import run_stage


def entry(root: str, split_sizes: dict, scales: list | None = None, threads: int = 1) -> dict:
    """A stage-shaped function that returns what it was given."""
    return {"root": root, "split_sizes": split_sizes, "scales": scales, "threads": torch.get_num_threads()}


def test_cli_values_are_yaml_and_defaults_apply(capsys, monkeypatch):
    for variable in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        monkeypatch.setenv(variable, "2")  # restored afterwards: run_stage sets them for its process
    before = torch.get_num_threads()
    try:
        got = run_stage(entry, argv=["--root", "data/x", "--split-sizes", "{train: 8}", "--threads", "1"])
    finally:
        torch.set_num_threads(before)
    assert got == {"root": "data/x", "split_sizes": {"train": 8}, "scales": None, "threads": 1}
    logged = capsys.readouterr().err
    assert "run: entry: {" in logged and '"commit"' in logged and '"torch_threads": 1' in logged
    assert [os.environ[v] for v in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")] == ["1"] * 3


def test_a_missing_required_argument_stops_with_usage(capsys):
    with pytest.raises(SystemExit):
        run_stage(entry, argv=["--root", "data/x"])
    assert "--split-sizes" in capsys.readouterr().err


def test_snakemake_arguments_must_match_the_signature():
    class Smk:
        input = {"root": "data/x"}
        output = {}
        params = {"split_sizes": {"val": 2}, "unknown": 1}
        log = []
        threads = 1

    with pytest.raises(TypeError, match="does not take unknown"):
        run_stage(entry, Smk())


def test_a_param_named_like_an_input_is_an_error_not_an_override():
    class Smk:
        input = {"root": "data/x"}
        output = {}
        params = {"root": "data/elsewhere", "split_sizes": {"val": 2}}
        log = []
        threads = 1

    with pytest.raises(TypeError, match="params 'root' clashes"):
        run_stage(entry, Smk())


def section_entry(root: str, threads: int = 1, **segmenter) -> dict:
    """A stage that takes the config's segmenter section as keyword arguments."""
    return {"root": root, **segmenter}


def test_a_stage_taking_a_config_section_accepts_its_keys_and_no_others():
    class Smk:
        input = {"root": "data/x"}
        output = {}
        params = {"iterations": 5, "crop_size": 64}
        log = []
        threads = 1

    assert run_stage(section_entry, Smk()) == {"root": "data/x", "iterations": 5, "crop_size": 64}
    Smk.params = {"iterations": 5, "not_a_segmenter_key": 1}
    with pytest.raises(TypeError, match="does not take not_a_segmenter_key"):
        run_stage(section_entry, Smk())


def test_the_command_line_offers_a_section_key_and_leaves_out_those_not_given(capsys):
    got = run_stage(section_entry, argv=["--root", "data/x", "--msc-scales", "[0.5]"])
    assert got == {"root": "data/x", "msc_scales": [0.5]}
    with pytest.raises(SystemExit):
        run_stage(section_entry, argv=["--root", "data/x", "--help"])
    assert "Optimiser steps. default: 30000" in capsys.readouterr().out


def test_the_run_record_names_what_decides_the_numbers():
    record = run_record()
    assert set(record) == {"commit", "python", "torch", "numpy", "cpu", "cpu_native_bf16", "torch_threads", "cuda"}
    assert record["torch"] == torch.__version__ and record["cpu"] and isinstance(record["cpu_native_bf16"], bool)


TORCH_FREE_STAGE = """
import sys
from wsss.stage import run_stage

def entry(root: str, threads: int = 1) -> None:
    assert "torch" not in sys.modules, "torch was imported"

run_stage(entry, argv=["--root", "x", "--threads", "2"])
"""


def test_a_stage_that_does_not_use_torch_starts_without_it():
    done = subprocess.run([sys.executable, "-c", TORCH_FREE_STAGE], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert '"torch": null' in done.stderr and '"torch_threads": null' in done.stderr


def failing_entry(root: str, threads: int = 1) -> None:
    """A stage that fails the way a bad input makes one fail."""
    raise ValueError(f"{root}: no images in this folder")


def test_a_stage_error_and_its_traceback_go_to_the_rule_log(tmp_path, capsys):
    log_file = tmp_path / "logs" / "make_cam.log"
    log_file.parent.mkdir()

    class Smk:
        input = {"root": "data/empty"}
        output = {}
        params = {}
        log = [str(log_file)]
        threads = 1

    with pytest.raises(ValueError, match="no images"):  # re-raised: the exit status stays non-zero
        run_stage(failing_entry, Smk())
    logged = log_file.read_text()
    assert "run: failing_entry: {" in logged  # the provenance line, as before
    assert "failing_entry failed: ValueError: data/empty: no images in this folder" in logged
    assert "Traceback (most recent call last)" in logged and 'raise ValueError(f"{root}' in logged
    terminal = capsys.readouterr().err
    assert "failing_entry failed: ValueError: data/empty: no images" in terminal
    assert "Traceback" not in terminal  # Python prints it there once, as the exception leaves the stage

    cli_log = tmp_path / "cli.log"
    with pytest.raises(ValueError, match="no images"):
        run_stage(failing_entry, argv=["--root", "data/empty", "--log-file", str(cli_log)])
    assert "failing_entry failed: ValueError: data/empty" in cli_log.read_text()
    assert "Traceback (most recent call last)" in cli_log.read_text()


def test_under_torchrun_another_rank_reports_its_error_on_stderr_not_in_the_log(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("RANK", "1")
    monkeypatch.setenv("WORLD_SIZE", "2")
    log_file = tmp_path / "train.log"
    with pytest.raises(ValueError, match="devices is 1 but 2 processes run"):
        run_stage(failing_entry, argv=["--root", "data/x", "--log-file", str(log_file)])
    assert not log_file.exists()  # rank 0 alone writes the log
    assert "failing_entry failed on rank 1 of 2: ValueError: devices is 1" in capsys.readouterr().err
