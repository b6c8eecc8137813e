"""Stage: every rule's wall time and peak memory, from Snakemake's benchmark files, as a chart."""

import logging

from wsss.report import plot_rule_resources, read_benchmarks
from wsss.stage import run_stage

log = logging.getLogger("report_resources")


def report_resources(benchmarks: str, output: str, done: list) -> None:
    """Chart the benchmark files in ``benchmarks``; ``done`` only orders this after the other rules."""
    table = read_benchmarks(benchmarks)
    if not table:
        raise ValueError(f"{benchmarks}: no benchmark files to chart")
    plot_rule_resources(table, output)
    log.info("%d rules, %.0f s in all", len(table), sum(row["seconds"] for row in table.values()))


if __name__ == "__main__":
    run_stage(report_resources, globals().get("snakemake"))
