"""Per-rule seconds and peak memory of the rehearsals at real shapes, projected to the full runs.

    python tools/rehearsal_table.py results/rehearse_voc12 results/rehearse_coco14

Each rehearsal folder holds Snakemake's benchmark files, its effective config (config.yaml) and its
dataset summary. A rule's work is counted in images (times epochs for training) or iterations; the
full run's counts come from the real config (voc12.yaml, coco14.yaml) and the real split sizes. The
projection is (rehearsal seconds / rehearsal units) x full units: start-up time is spread over the
few rehearsal units, so short rules are over-estimated. Prints a Markdown table.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
from pathlib import Path

import yaml

from wsss.config import load_config
from wsss.report import read_benchmarks

REPO = Path(__file__).resolve().parents[1]
# Images with at least one annotation in COCO 2014 (82,783 train / 40,504 val images in all); the
# VOC counts are voc12.yaml's voc_sbd.expected_counts.
COCO_SPLITS = {"train": 82081, "val": 40137}


def split_sizes(run: Path) -> dict[str, int]:
    summary = json.loads((run / "dataset" / "summary.json").read_text())
    return {name: split["images"] for name, split in summary["splits"].items()}


def work_units(rule: str, config: dict, splits: dict[str, int]) -> tuple[str, float]:
    """(unit, count) of the work one run of ``rule`` does under ``config`` on splits of these sizes."""
    data = config["dataset"]
    train, seed_eval, evaluation = (splits[data[k]] for k in ("train_split", "seed_eval_split", "eval_split"))
    stage = rule.split("_shard")[0]
    epochs = {"train_cam": "train_cam", "train_clims": "clims", "train_irn": "irn"}
    if stage in epochs:
        return "image-epoch", train * config[epochs[stage]]["epochs"]
    if stage == "train_seg":
        return "iteration", config["segmenter"]["iterations"]
    if stage.startswith(
        ("make_cam_clims", "gather_cams_clims")
    ):  # train and seed-eval splits; VOC's train is in train_aug
        return "image", train
    if stage.startswith(("make_cam_baseline", "gather_cams_baseline", "eval_cam", "eval_labels")):
        return "image", seed_eval
    if stage.startswith(("ir_label", "gather_ir_labels", "make_pseudo_labels", "gather_pseudo_labels")):
        return "image", train
    if stage.startswith(("eval_seg", "gather_eval_seg")):
        return "image", evaluation
    if stage in ("prepare_voc_sbd", "prepare_coco"):
        return "image", train + evaluation
    if stage.startswith("check_dataset_"):  # one job per split
        return "image", splits[stage.removeprefix("check_dataset_")]
    return "run", 1


def real_config(rehearsal: dict) -> tuple[str, dict, dict[str, int]]:
    """The real config a rehearsal config stands for (run name minus ``rehearse_``) and its full split sizes."""
    name = rehearsal["run_name"].removeprefix("rehearse_")
    config = load_config(REPO / "configs" / f"{name}.yaml")
    from_coco = config["dataset"]["root"] == config["coco"]["root"]
    sizes = COCO_SPLITS if from_coco else config["voc_sbd"]["expected_counts"]
    return name, config, dict(sizes)


def projection_rows(run: Path) -> tuple[str, list[dict]]:
    config = yaml.safe_load((run / "config.yaml").read_text())
    splits = split_sizes(run)
    name, full_config, full_splits = real_config(config)
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


def machine() -> str:
    model = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if "model name" in line
        ),
        platform.processor(),
    )
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=REPO).stdout
    return f"{model}, {os.cpu_count()} cores; commit {commit.strip() or 'unknown'}"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("runs", nargs="+", type=Path, help="rehearsal result folders (results/rehearse_*)")
    args = parser.parse_args(argv)
    print(f"Measured on {machine()}.\n")
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
