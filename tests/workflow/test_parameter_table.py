"""docs/parameters.md and docs/parameters_clip_es.md cannot drift: they are regenerated from the configs and
checked against the code they reproduce."""

import subprocess
import sys

from conftest import REPO, load_tool

parameter_table = load_tool("parameter_table")


def test_table_is_current_and_every_difference_from_the_reference_is_documented():
    result = subprocess.run(
        [sys.executable, str(REPO / "tools" / "parameter_table.py"), "--check"], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr


def test_an_undocumented_difference_a_missing_key_and_a_stale_entry_are_reported():
    effective = {"voc12": {"clims.alpha": 5.0, "clims.beta": 24.0, "new.key": 1}}
    reference = {
        "clims.alpha": {"voc12": 10.0},
        "clims.beta": {"voc12": 20.0, "difference": "tuned"},
        "old.key": {"project": "gone"},
    }
    found = parameter_table.problems(effective, reference, REPO / "docs" / "reference_parameters.yaml")
    assert any(line.startswith("clims.alpha: voc12 runs 5.0, the reference 10.0") for line in found)
    assert not any(line.startswith("clims.beta") for line in found)
    assert any(line.startswith("new.key: not in") for line in found)
    assert any(line.startswith("old.key: in") for line in found)
    assert len(found) == 3
