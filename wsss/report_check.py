"""Refuse `snakemake --report` while the workflow is not up to date.

Snakemake builds a report from the files as they are: after a config change, an edited dataset or a
deleted output it would show old results under the new settings without a word. The Snakefile calls
:func:`outdated_report` when its command line asks for a report; it dry-runs the same command
without the report options and names the jobs that would run.
"""

from __future__ import annotations

import subprocess
import sys

# Options that make a Snakemake command build a report, each with the value it may take.
REPORT_OPTIONS = {
    "--report",
    "--report-stylesheet",
    "--report-metadata",
    "--reporter",
    "--report-html-path",
    "--report-html-stylesheet-path",
}


def asks_for_report(argv: list[str]) -> bool:
    """True when ``argv`` builds a report from the files as they are (``--report-after-run`` first
    runs what is outdated, so it needs no check)."""
    names = {arg.split("=", 1)[0] for arg in argv}
    return "--report" in names and "--report-after-run" not in names


def without_report_options(argv: list[str]) -> list[str]:
    """``argv`` less the report options and their values (given as ``--opt value`` or ``--opt=value``)."""
    kept: list[str] = []
    skip_value = False
    for index, arg in enumerate(argv):
        if skip_value:
            skip_value = False
            continue
        if arg.split("=", 1)[0] in REPORT_OPTIONS:
            skip_value = "=" not in arg and index + 1 < len(argv) and not argv[index + 1].startswith("-")
            continue
        kept.append(arg)
    return kept


def outdated_report(argv: list[str]) -> str:
    """The reason not to build the report that ``argv`` asks for: the jobs a dry run of the same
    command plans, with Snakemake's reasons ("" when nothing is to be done)."""
    command = [sys.executable, "-m", "snakemake", *without_report_options(argv), "--dry-run", "--quiet", "rules"]
    dry_run = subprocess.run(command, capture_output=True, text=True)
    text = dry_run.stdout + dry_run.stderr
    if dry_run.returncode == 0 and "Job stats:" not in text:
        return ""
    if "Job stats:" in text:
        plan = text[text.index("Job stats:") :].split("Some jobs were triggered")[0].split("This was a dry-run")[0]
    else:
        plan = text[-3000:]
    return (
        "the results are not up to date with this command's config, dataset and code, so the report "
        "would show old results. Run the workflow first (the same command without --report), or build "
        "both at once with --report-after-run. A dry run of this command plans:\n" + plan.rstrip()
    )
