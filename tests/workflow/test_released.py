"""Files the reference released (config released), each imported in place of the rules that would make it."""

import shutil

import pytest
from conftest import write_tiny_voc
from released_helpers import write_reference_outputs
from workflow_helpers import place_released_files, planned_jobs, shipped, snakemake

REFINEMENT = {"ir_label", "gather_ir_labels", "train_irn", "make_pseudo_labels", "gather_pseudo_labels"}


def dry_run(tmp_path, released: dict, *targets: str, **sections) -> dict[str, int]:
    """The micro run's planned jobs with ``released`` (placeholders written) and config ``sections``."""
    config = shipped("micro")
    config["released"] = released
    for section, values in sections.items():
        config[section].update(values)
    place_released_files(tmp_path, config)
    return planned_jobs(snakemake(tmp_path, config, "-n", *targets))


@pytest.mark.parametrize(
    "released, sections, imported, replaced, kept",
    [
        ({"baseline_cam": "weights/res50_cam.pth"}, {}, {"import_released_cam": 1}, {"train_cam"}, {"train_clims"}),
        (
            {"clims_cam": "weights/clims_voc12.pth"},
            {"seeds": {"sources": ["clims"]}},
            {"import_released_cam": 1},
            {"train_clims", "train_cam"},
            {"make_cam", "train_irn"},
        ),
        (
            {"clims_cams": "released/cams"},
            {"seeds": {"sources": ["clims"]}, "irn": {"backbone_init": "random"}},
            {"import_released_cams": 1, "eval_cam": 1},
            {"train_cam", "train_clims", "import_released_cam", "make_cam", "gather_cams"},
            {"ir_label", "train_irn", "make_pseudo_labels"},
        ),
        (
            {"pseudo_labels": "released/masks"},
            {},
            {"import_pseudo_labels": 1, "eval_labels": 1, "preview_labels": 1, "train_seg": 1},
            REFINEMENT,
            {"train_cam", "train_clims", "make_cam", "eval_cam"},
        ),
    ],
    ids=["baseline_cam", "clims_cam", "clims_cams", "pseudo_labels"],
)
def test_a_released_file_is_imported_and_the_rules_it_replaces_are_not_planned(
    tmp_path, released, sections, imported, replaced, kept
):
    jobs = dry_run(tmp_path, released, **sections)
    assert {rule: jobs.get(rule) for rule in imported} == imported
    assert replaced.isdisjoint(jobs) and kept <= set(jobs)


@pytest.mark.parametrize("key, path", [("baseline_cam", "weights/res50_cam.pth"), ("pseudo_labels", "released/masks")])
def test_a_missing_released_file_stops_the_run_instead_of_making_it_here(tmp_path, key, path):
    """Snakemake's ruleorder would quietly fall back to the rule the file replaces (train_cam, the refinement)."""
    import subprocess

    from workflow_helpers import snakemake_command

    config = shipped("micro")
    config["released"] = {key: path}
    result = subprocess.run(snakemake_command(tmp_path, config, "-n"), capture_output=True, text=True, timeout=600)
    assert result.returncode != 0
    assert f"released.{key}: {path} does not exist" in result.stdout + result.stderr
    assert "train_cam" not in result.stdout and "make_pseudo_labels" not in result.stdout


def test_released_cams_still_train_clims_when_irn_starts_from_its_backbone(tmp_path):
    jobs = dry_run(tmp_path, {"clims_cams": "released/cams"}, irn={"backbone_init": "cam"})
    assert jobs["import_released_cams"] == 1 and jobs["train_clims"] == 1
    assert jobs["make_cam"] == jobs["gather_cams"] == 1  # the baseline's, for the seed comparison


def test_with_released_pseudo_labels_the_segmenter_alone_needs_no_cam_stage(tmp_path):
    jobs = dry_run(tmp_path, {"pseudo_labels": "released/masks"}, "results/micro/evaluation/segmenter.json")
    assert {"import_pseudo_labels", "train_seg", "eval_seg"} <= set(jobs)
    assert jobs.keys().isdisjoint({"train_cam", "train_clims", "make_cam", "eval_cam", *REFINEMENT})


def test_the_import_rules_convert_files_written_as_the_reference_writes_them(tmp_path):
    """A real run of just the two folder imports on a tiny VOC-layout dataset (voc12 config)."""
    root = tmp_path / "voc"
    ids = write_tiny_voc(root, n=4)
    for split in ("train_aug", "val"):
        (root / "ImageSets" / "Segmentation" / f"{split}.txt").write_text("\n".join(ids) + "\n")
    shutil.copytree(root / "SegmentationClass", root / "SegmentationClassAug")
    config = shipped("voc12")
    config["dataset"]["root"] = str(root)
    config["released"] = {"baseline_cam": None, "clims_cams": "released/cams", "pseudo_labels": "released/masks"}
    write_reference_outputs(
        root, config["dataset"]["manifest"], ["train_aug"], tmp_path / "released/cams", tmp_path / "released/masks"
    )
    snakemake(tmp_path, config, "results/voc12/cams/clims", "results/voc12/pseudo_labels")
    results = tmp_path / "results" / "voc12"
    assert sorted(p.name for p in (results / "cams" / "clims").glob("*.npz")) == [f"{i}.npz" for i in ids]
    assert sorted(p.name for p in (results / "pseudo_labels").glob("*.png")) == [f"{i}.png" for i in ids]
    assert (results / "pseudo_labels" / "README.txt").is_file()
    assert "4 CAM files of released/cams" in (results / "logs" / "import_released_cams.log").read_text()
    assert "4 masks of released/masks" in (results / "logs" / "import_pseudo_labels.log").read_text()
