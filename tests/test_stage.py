"""The stage command line: YAML values, defaults, required arguments, threads and the run record."""

import pytest
import torch

from wsss.provenance import run_record
from wsss.stage import run_stage


def entry(root: str, split_sizes: dict, scales: list | None = None, threads: int = 1) -> dict:
    """A stage-shaped function that returns what it was given."""
    return {"root": root, "split_sizes": split_sizes, "scales": scales, "threads": torch.get_num_threads()}


def test_cli_values_are_yaml_and_defaults_apply(capsys):
    before = torch.get_num_threads()
    try:
        got = run_stage(entry, argv=["--root", "data/x", "--split-sizes", "{train: 8}", "--threads", "1"])
    finally:
        torch.set_num_threads(before)
    assert got == {"root": "data/x", "split_sizes": {"train": 8}, "scales": None, "threads": 1}
    logged = capsys.readouterr().err
    assert "run: entry: {" in logged and '"commit"' in logged and '"torch_threads": 1' in logged


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


def test_the_run_record_names_what_decides_the_numbers():
    record = run_record()
    assert set(record) == {"commit", "python", "torch", "numpy", "cpu", "cpu_native_bf16", "torch_threads", "cuda"}
    assert record["torch"] == torch.__version__ and record["cpu"] and isinstance(record["cpu_native_bf16"], bool)
