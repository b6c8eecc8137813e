"""The micro run, done once per test session and shared by the tests that read its results."""

import pytest
from workflow_helpers import shipped, snakemake


@pytest.fixture(scope="session")
def micro_run(tmp_path_factory):
    """(working directory, config) of a finished micro run; tests may dry-run it but not change its files."""
    workdir = tmp_path_factory.mktemp("micro")
    config = shipped("micro")
    snakemake(workdir, config)
    return workdir, config
