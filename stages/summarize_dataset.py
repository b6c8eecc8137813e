"""Stage: the checks of every split (check_dataset, one job per split) in one summary for the report."""

import json
from pathlib import Path

from wsss.io import write_json
from wsss.stage import run_stage


def summarize_dataset(checks: list[str], summary: str) -> None:
    """Write ``summary``: the first check's dataset, root and classes, and every check's splits."""
    reports = [json.loads(Path(path).read_text()) for path in checks]
    merged = {**reports[0], "splits": {}}
    for report in reports:
        merged["splits"].update(report["splits"])
    write_json(summary, merged)


if __name__ == "__main__":
    run_stage(summarize_dataset, globals().get("snakemake"))
