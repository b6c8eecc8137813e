"""Running the workflow from tests: Snakemake on a config dict in a temporary working directory."""

import json
import re
import subprocess
from pathlib import Path

import numpy as np
import yaml
from conftest import REPO, SNAKEMAKE, load_tool

# The micro run's jobs that new CLIMS CAMs rerun, and the report's tables and charts, which follow any
# change of a result.
AFTER_CAMS = {
    "ir_label": 1,
    "gather_ir_labels": 1,
    "train_irn": 1,
    "make_pseudo_labels": 1,
    "gather_pseudo_labels": 1,
    "eval_labels": 2,
    "preview_labels": 2,
    "train_seg": 1,
    "eval_seg": 1,
    "gather_eval_seg": 1,
}
REPORT = {"report_results": 1, "report_resources": 1}


def snakemake_command(workdir: Path, config: dict, *args: str) -> list[str]:
    """The command line of a Snakemake run of ``config`` (written into ``workdir``) on 2 cores."""
    config_path = workdir / "run_config.yaml"
    config_path.write_text(yaml.safe_dump(config))
    return [
        SNAKEMAKE,
        "-s",
        str(REPO / "Snakefile"),
        "-d",
        str(workdir),
        "--configfile",
        str(config_path),
        "--cores",
        "2",
        *args,
    ]


def snakemake(workdir: Path, config: dict, *args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    command = snakemake_command(workdir, config, *args)
    result = subprocess.run(command, capture_output=True, text=True, timeout=1200, env=env)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return result


def shipped(name: str) -> dict:
    config = yaml.safe_load((REPO / "configs" / f"{name}.yaml").read_text())
    config["dataset"]["manifest"] = str(REPO / config["dataset"]["manifest"])
    return config


# The keys of the config's ``released`` section that name folders (the others name files).
RELEASED_FOLDERS = ("clims_cams", "pseudo_labels")


def place_released_files(workdir: Path, config: dict) -> dict:
    """Write each file the config's ``released`` section names (relative to ``workdir``) as an empty
    placeholder, and each folder as an empty folder, which is all a dry run looks at; return the config."""
    for key, path in config.get("released", {}).items():
        if not path:
            continue
        if key in RELEASED_FOLDERS:
            (workdir / path).mkdir(parents=True, exist_ok=True)
        else:
            (workdir / path).parent.mkdir(parents=True, exist_ok=True)
            (workdir / path).touch()
    return config


def planned_jobs(result: subprocess.CompletedProcess) -> dict[str, int]:
    """Rule -> count from Snakemake's 'Job stats' table (empty when nothing is to be done)."""
    text = result.stdout + result.stderr
    table = text.split("Job stats:")[1] if "Job stats:" in text else ""
    return {m.group(1): int(m.group(2)) for m in re.finditer(r"^(\w+)\s+(\d+)$", table, re.M) if m.group(1) != "total"}


# JSON fields that record time or place are left out, as tools/compare_runs.py leaves them out.
results_only = load_tool("compare_runs").results_only


def assert_same_results(first: Path, second: Path) -> None:
    """Two runs' result folders hold the same CAM arrays, label and prediction PNGs and reports."""
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
