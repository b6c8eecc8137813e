"""The work a rule does in a run, in images, image-epochs or iterations, to project measured rates to
the full VOC and COCO runs (tools/rehearsal_table.py, tools/gpu_check.py)."""

from __future__ import annotations

import json
import os
import platform
import subprocess
from pathlib import Path

from wsss.config import effective_config

# Every image of COCO 2014 (702 train / 367 val of them without annotations, kept with no class as the
# reference keeps them); the VOC counts are voc12.yaml's voc_sbd.expected_counts.
COCO_SPLITS = {"train": 82783, "val": 40504}


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
    for prefix in ("make_cam_", "make_clip_cams_", "gather_cams_"):
        if stage.startswith(prefix):
            # The refined source's CAMs cover the train and seed-eval splits (VOC's train is in train_aug),
            # every other source's the seed-eval split.
            source = next((s for s in config["seeds"]["sources"] if stage.removeprefix(prefix).startswith(s)), None)
            return "image", train if source == config["seeds"]["refine_from"] else seed_eval
    if stage.startswith(("eval_cam", "eval_labels")):
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


def full_run(*config_files: str | os.PathLike) -> tuple[dict, dict[str, int]]:
    """A real config (voc12.yaml, coco14.yaml, each maybe with a variant layered on it) and the sizes of
    its full splits."""
    config = effective_config(config_files)
    from_coco = config["dataset"]["root"] == config["coco"]["root"]
    sizes = COCO_SPLITS if from_coco else config["voc_sbd"]["expected_counts"]
    return config, dict(sizes)


def machine(repo: str | os.PathLike) -> str:
    """The CPU model, its cores and ``repo``'s commit, for a table's caption."""
    model = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if "model name" in line
        ),
        platform.processor(),
    )
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=repo).stdout
    return f"{model}, {os.cpu_count()} cores; commit {commit.strip() or 'unknown'}"
