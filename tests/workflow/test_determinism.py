"""Same inputs, same numbers: a second micro run from nothing gives the same CAMs, labels and metrics."""

import json

import numpy as np
import pytest
from workflow_helpers import shipped, snakemake

# Fields that record time or where things are, not results.
NOT_RESULTS = {
    "seconds",
    "images_per_second",
    "iterations_per_second",
    "render_seconds",
    "checkpoint",
    "root",
    "device",
}


def results_only(value):
    """A JSON value with timing and path fields removed, recursively."""
    if isinstance(value, dict):
        return {k: results_only(v) for k, v in value.items() if k not in NOT_RESULTS}
    if isinstance(value, list):
        return [results_only(v) for v in value]
    return value


@pytest.mark.slow
def test_two_runs_from_nothing_give_identical_cams_labels_and_metrics(micro_run, tmp_path):
    first = micro_run[0] / "results" / "micro"
    snakemake(tmp_path, shipped("micro"), "--forceall")
    second = tmp_path / "results" / "micro"

    cams = sorted(p.relative_to(first) for p in first.glob("cams/*/*.npz"))
    assert len(cams) > 20
    for name in cams:
        with np.load(first / name) as a, np.load(second / name) as b:
            assert sorted(a.files) == sorted(b.files), name
            for key in a.files:
                np.testing.assert_array_equal(a[key], b[key], err_msg=f"{name}:{key}")

    pngs = sorted(p.relative_to(first) for p in first.glob("*/*.png") if p.parent.name != "report")
    assert any(p.parts[0] == "pseudo_labels" for p in pngs) and any(p.parts[0] == "segmenter_predictions" for p in pngs)
    different = [str(p) for p in pngs if (first / p).read_bytes() != (second / p).read_bytes()]
    assert different == []

    reports = sorted(p.relative_to(first) for p in first.glob("*/*.json") if p.parts[-2] != "benchmarks")
    assert len(reports) >= 10
    for name in reports:
        a, b = (results_only(json.loads((run / name).read_text())) for run in (first, second))
        assert a == b, name
