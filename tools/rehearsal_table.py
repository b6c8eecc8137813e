"""Per-rule seconds and peak memory of the rehearsals at real shapes, projected to the full runs.

    python tools/rehearsal_table.py results/rehearse_voc12 results/rehearse_coco14 \
        results/rehearse_voc12_clip_es results/rehearse_coco14_clip_es

Each rehearsal folder holds Snakemake's benchmark files, its effective config (config.yaml) and its
dataset summary. A rule's work is counted in images (times epochs for training) or iterations; the
full run's counts come from the real config (voc12.yaml, coco14.yaml) and the real split sizes. The
projection is (rehearsal seconds / rehearsal units) x full units: start-up time is spread over the
few rehearsal units, so short rules are over-estimated. Prints a Markdown table.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import yaml

from wsss.rehearsal.projection import full_run, machine, split_sizes, work_units
from wsss.report import read_benchmarks

REPO = Path(__file__).resolve().parents[1]


def projection_rows(run: Path) -> tuple[str, list[dict]]:
    config = yaml.safe_load((run / "config.yaml").read_text())
    splits = split_sizes(run)
    name = config["run_name"].removeprefix("rehearse_")
    # A variant's rehearsal (rehearse_voc12_clip_es) stands for the variant layered on its base config.
    base = name.split("_")[0]
    full_config, full_splits = full_run(*(REPO / "configs" / f"{n}.yaml" for n in dict.fromkeys([base, name])))
    rows = []
    for rule, measured in read_benchmarks(run / "benchmarks").items():
        unit, units = work_units(rule, config, splits)
        _, full_units = work_units(rule, full_config, full_splits)
        per_unit = measured["seconds"] / units if units else float("nan")
        rows.append(
            {
                "rule": rule,
                "unit": unit,
                "units": units,
                "seconds": measured["seconds"],
                "per_unit": per_unit,
                "rss_gib": measured["max_rss_mb"] / 1024,
                "full_units": full_units,
                "full_hours": per_unit * full_units / 3600,
            }
        )
    return name, sorted(rows, key=lambda r: -r["full_hours"])


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("runs", nargs="+", type=Path, help="rehearsal result folders (results/rehearse_*)")
    args = parser.parse_args(argv)
    print(f"Measured on {machine(REPO)}.\n")
    for run in args.runs:
        name, rows = projection_rows(run)
        print(f"### {name}: rehearsal {run}\n")
        print("| rule | unit | rehearsal units | wall s | s per unit | peak RSS GiB | full-run units | projected h |")
        print("|---|---|---:|---:|---:|---:|---:|---:|")
        for r in rows:
            print(
                f"| {r['rule']} | {r['unit']} | {r['units']:g} | {r['seconds']:.1f} | {r['per_unit']:.2f} | "
                f"{r['rss_gib']:.2f} | {r['full_units']:g} | {r['full_hours']:.1f} |"
            )
        total = sum(r["full_hours"] for r in rows)
        print(f"\nProjected full {name} run on this CPU: {total:,.0f} hours ({total / 24:,.1f} days).\n")


if __name__ == "__main__":
    main()
