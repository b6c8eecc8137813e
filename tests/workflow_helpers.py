"""Running the workflow from tests: Snakemake on a config dict in a temporary working directory."""

import re
import subprocess
from pathlib import Path

import yaml
from conftest import REPO, SNAKEMAKE, load_tool


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


def planned_jobs(result: subprocess.CompletedProcess) -> dict[str, int]:
    """Rule -> count from Snakemake's 'Job stats' table (empty when nothing is to be done)."""
    text = result.stdout + result.stderr
    table = text.split("Job stats:")[1] if "Job stats:" in text else ""
    return {m.group(1): int(m.group(2)) for m in re.finditer(r"^(\w+)\s+(\d+)$", table, re.M) if m.group(1) != "total"}


def assert_same_results(first: Path, second: Path) -> None:
    """Two runs' result folders hold the same CAM arrays, label and prediction PNGs, tables, reports
    and model tensors (tools/compare_runs.py)."""
    counts, different = load_tool("compare_runs").compare_runs(first, second)
    assert counts["CAM arrays"] > 20 and counts["PNGs"] > 20 and counts["JSON reports"] >= 10, counts
    assert different == []
