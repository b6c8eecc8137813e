"""A run's effective config is its config files plus the schema's defaults, as Snakemake builds it."""

import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import yaml
from conftest import REPO, SNAKEMAKE
from workflow_helpers import place_released_files

from wsss.config import effective_config

# Every shipped config and overlay, as users layer them (later files override earlier ones).
SHIPPED_RUNS = [
    (),  # no --configfile: the demo
    ("demo",),
    ("demo", "demo_long"),
    ("micro",),
    ("voc12",),
    ("voc12", "voc12_strong"),
    ("coco14",),
    ("voc12", "voc12_clip_es"),
    ("coco14", "coco14_clip_es"),
    ("voc12", "rehearse_voc12"),
    ("coco14", "rehearse_coco14"),
    ("voc12", "voc12_clip_es", "rehearse_voc12"),
    ("coco14", "coco14_clip_es", "rehearse_coco14"),
    ("folder",),  # folder.images comes from the command line
    ("demo", "demo_folder"),
    ("folder", "rehearse_folder"),
]
# What a rehearsal overlay may change: the run's name, data roots and counts, weight files, run lengths.
REHEARSAL_KEYS = {
    "run_name",
    "voc_sbd.voc_root",
    "voc_sbd.sbd_root",
    "voc_sbd.root",
    "voc_sbd.expected_counts.train",
    "voc_sbd.expected_counts.val",
    "voc_sbd.expected_counts.train_aug",
    "coco.coco_root",
    "coco.root",
    "dataset.root",
    "clip.model",
    "clip_es.model",
    "maskclip.model",
    "train_cam.pretrained",
    "released.baseline_cam",
    "irn.pretrained",
    "segmenter.pretrained",
    "train_cam.epochs",
    "clims.epochs",
    "irn.epochs",
    "segmenter.iterations",
}


def files_plus_defaults(names: tuple[str, ...]) -> dict:
    """What the run config must be: the named files merged in order, then the schema's defaults."""
    return effective_config([REPO / "configs" / f"{name}.yaml" for name in names or ("demo",)])


def snakemake_effective_config(names: tuple[str, ...], workdir: Path) -> dict:
    """Let Snakemake build the config and write it through the workflow's write_config rule."""
    expected = files_plus_defaults(names)
    place_released_files(workdir, expected)  # a config naming a released file needs it to exist
    if expected["folder"]["images"]:  # and a folder-mode config its folder of photos
        (workdir / expected["folder"]["images"]).mkdir(parents=True)
    run_name = expected["run_name"]
    target = f"results/{run_name}/config.yaml"
    configfiles = [str(REPO / "configs" / f"{name}.yaml") for name in names]
    command = [SNAKEMAKE, "-s", str(REPO / "Snakefile"), "-d", str(workdir), "--cores", "1", target]
    if configfiles:
        command += ["--configfile", *configfiles]
    result = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    return yaml.safe_load((workdir / target).read_text())


def differences(expected, found, path=""):
    """Every key path where two nested configs disagree, with both values."""
    if isinstance(expected, dict) and isinstance(found, dict):
        for key in sorted(set(expected) | set(found)):
            yield from differences(expected.get(key, "<missing>"), found.get(key, "<missing>"), f"{path}{key}.")
    elif expected != found:
        yield f"{path[:-1]}: expected {expected!r}, found {found!r}"


@pytest.fixture(scope="module")
def effective_configs(tmp_path_factory):
    workdirs = [tmp_path_factory.mktemp("run") for _ in SHIPPED_RUNS]
    with ThreadPoolExecutor(max_workers=2) as pool:
        configs = pool.map(snakemake_effective_config, SHIPPED_RUNS, workdirs)
    return dict(zip(SHIPPED_RUNS, configs))


@pytest.mark.parametrize("names", SHIPPED_RUNS, ids=["+".join(n) or "no-configfile" for n in SHIPPED_RUNS])
def test_effective_config_is_the_files_plus_schema_defaults(effective_configs, names):
    found = effective_configs[names]
    assert list(differences(files_plus_defaults(names), found)) == []


def test_real_runs_take_no_demo_setting(effective_configs):
    """The keys voc12 leaves out come from the schema (the reference), never from demo.yaml."""
    voc = effective_configs[("voc12",)]
    assert voc["train_cam"]["optimizer"] == "sgd" and voc["train_cam"]["freeze_bn"] is True
    assert voc["clims"]["classifier_scale"] == 1.0 and voc["clims"]["logit_offset"] == 0.0
    assert voc["clims"]["resize_long"] == [320, 640] and voc["irn"]["optimizer"] == "sgd"
    assert voc["irn"]["resize_long"] is None and voc["irn"]["rescale_range"] == [0.5, 1.5]
    assert {voc[stage]["crop_padding"] for stage in ("train_cam", "clims", "irn")} == {"reference"}
    assert voc["seeds"] == {"sources": ["clims"], "refine_from": "clims"}
    assert effective_configs[()]["run_name"] == "demo" and effective_configs[()]["clims"]["logit_offset"] == -3.0


@pytest.mark.parametrize("real", [("voc12",), ("coco14",), ("voc12", "voc12_clip_es"), ("coco14", "coco14_clip_es")])
def test_rehearsal_changes_only_data_weights_and_lengths(effective_configs, real):
    """The rehearsal runs the real config: only roots, counts, weight paths and epochs/iterations differ."""
    rehearsal = (*real, f"rehearse_{real[0]}")
    changed = {line.split(":")[0] for line in differences(effective_configs[real], effective_configs[rehearsal])}
    assert changed - REHEARSAL_KEYS == set()
    assert {"dataset.root", "train_cam.pretrained", "segmenter.iterations"} <= changed


def test_folder_rehearsal_changes_only_weights_lengths_and_the_run_s_name(tmp_path):
    """The folder rehearsal is folder.yaml as a user runs it (the folder and classes on the command line)
    with the rehearsal's weights and lengths; the dataset it makes lies under its own run's name."""
    rehearsal = files_plus_defaults(("folder", "rehearse_folder"))
    command_line = tmp_path / "command_line.yaml"
    command_line.write_text(
        yaml.safe_dump({"folder": {key: rehearsal["folder"][key] for key in ("images", "classes")}})
    )
    real = effective_config([REPO / "configs" / "folder.yaml", command_line])
    changed = {line.split(":")[0] for line in differences(real, rehearsal)}
    assert changed - REHEARSAL_KEYS == {"dataset.manifest"}  # under results/rehearse_folder
    assert {
        "run_name",
        "dataset.root",
        "clip.model",
        "clip_es.model",
        "segmenter.pretrained",
        "segmenter.iterations",
    } <= changed


def test_the_folder_config_trains_and_tests_as_the_clip_es_config_does():
    """folder.yaml says its settings are voc12_clip_es.yaml's: the seeds, the masks, the segmenter (the
    reference DeepLabV2 from its ImageNet weights, not the schema's random start) and the test."""
    folder, clip_es = files_plus_defaults(("folder",)), files_plus_defaults(("voc12", "voc12_clip_es"))
    for section in ("clip_es", "crf", "segmenter", "eval_seg", "train_cam"):
        assert list(differences(clip_es[section], folder[section], f"{section}.")) == []
    assert {key: value for key, value in folder["refine"].items() if key != "alpha"} == {
        key: value for key, value in clip_es["refine"].items() if key != "alpha"
    }
    assert folder["refine"]["alpha"] == clip_es["refine"]["alpha"] == 1 and folder["reward"]["choose"]
