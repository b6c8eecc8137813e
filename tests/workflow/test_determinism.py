"""Same inputs, same numbers: a second micro run from nothing gives the same CAMs, labels and metrics."""

import pytest
from workflow_helpers import assert_same_results, shipped, snakemake


@pytest.mark.slow
def test_two_runs_from_nothing_give_identical_cams_labels_and_metrics(micro_run, tmp_path):
    snakemake(tmp_path, shipped("micro"), "--forceall")
    assert_same_results(micro_run[0] / "results" / "micro", tmp_path / "results" / "micro")
