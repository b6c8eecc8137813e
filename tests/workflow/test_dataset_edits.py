"""Edits inside a dataset rerun exactly the rules that read what changed; a new run leaves shared data alone."""

import copy
import shutil

import pytest
from workflow_helpers import AFTER_CAMS, REPORT, planned_jobs, snakemake

# The evaluation split's check and the segmenter's evaluation, nothing trained.
FROM_VAL = {"check_dataset": 1, "summarize_dataset": 1, "eval_seg": 1, "gather_eval_seg": 1, **REPORT, "all": 1}
# The train split's check, and every rule that reads its images or image labels, with all that follows.
FROM_TRAIN_LABELS = {
    "check_clip_classes": 1,
    "check_dataset": 1,
    "summarize_dataset": 1,
    "train_cam": 1,
    "train_clims": 1,
    "make_cam": 2,
    "gather_cams": 2,
    "eval_cam": 2,
    **AFTER_CAMS,
    **REPORT,
    "all": 1,
}


@pytest.fixture
def micro_copy(micro_run, tmp_path):
    """A copy of the finished micro run (time stamps and Snakemake's records kept) to edit."""
    workdir = tmp_path / "run"
    shutil.copytree(micro_run[0], workdir, symlinks=True)
    return workdir, copy.deepcopy(micro_run[1])


def split_ids(world, split):
    return (world / "ImageSets" / "Segmentation" / f"{split}.txt").read_text().split()


@pytest.mark.slow
def test_dataset_edits_rerun_exactly_the_rules_that_read_them(micro_copy):
    workdir, config = micro_copy
    world = workdir / "data" / "micro_world"
    assert planned_jobs(snakemake(workdir, config, "-n")) == {}

    val = split_ids(world, "val")  # an image of the evaluation split replaced by another
    shutil.copyfile(world / "JPEGImages" / f"{val[1]}.jpg", world / "JPEGImages" / f"{val[0]}.jpg")
    result = snakemake(workdir, config, "-n")
    assert planned_jobs(result) == FROM_VAL
    assert f"val.images.tsv: 1 changed (first: JPEGImages/{val[0]}.jpg)" in result.stderr
    assert "results/micro/dataset/files/val.images.tsv" in result.stdout  # the reason Snakemake gives
    snakemake(workdir, config, "--touch")  # taken as done, to probe the next edit alone
    assert planned_jobs(snakemake(workdir, config, "-n")) == {}

    train = split_ids(world, "train")  # the class of one object of a training image changed
    annotation = world / "Annotations" / f"{train[0]}.xml"
    text = annotation.read_text()
    first_class = text.split("<name>")[1].split("</name>")[0]
    other_class = "cow" if first_class != "cow" else "boat"
    annotation.write_text(text.replace(f"<name>{first_class}</name>", f"<name>{other_class}</name>", 1))
    result = snakemake(workdir, config, "-n")
    assert planned_jobs(result) == FROM_TRAIN_LABELS
    assert f"train.labels.tsv: 1 changed (first: Annotations/{train[0]}.xml)" in result.stderr
    snakemake(workdir, config, "--touch")

    split_file = world / "ImageSets" / "Segmentation" / "val.txt"  # an id dropped from the evaluation split
    split_file.write_text("\n".join(val[1:]) + "\n")
    result = snakemake(workdir, config, "-n")
    assert planned_jobs(result) == FROM_VAL
    assert f"1 removed (first: JPEGImages/{val[0]}.jpg)" in result.stderr


@pytest.mark.slow
def test_a_new_run_name_neither_remakes_nor_risks_the_shared_world_and_clip(micro_copy):
    workdir, config = micro_copy
    config["run_name"] = "micro_again"
    jobs = planned_jobs(snakemake(workdir, config, "-n"))
    # Before, the contact sheet and the CLIP evaluation under the new results folder made both rules
    # run again: Snakemake deletes a job's outputs first, so a failure lost data/micro_world.
    assert "make_demo_world" not in jobs and "train_demo_clip" not in jobs
    assert jobs["draw_demo_world"] == 1 and jobs["train_clims"] == 1
