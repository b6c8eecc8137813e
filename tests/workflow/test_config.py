"""Config schema: every key documented with a default; shipped configs valid; bad ones rejected."""

import re
import subprocess
import sys

import pytest
import yaml
from conftest import REPO, SNAKEMAKE

from wsss.config import CONFIG_SCHEMA, config_warnings, effective_config, load_config, validate_config
from wsss.data.manifest import DatasetManifest, folder_manifest_dict
from wsss.errors import ConfigError
from wsss.schema import load_schema, read_yaml

CONFIGS = sorted((REPO / "configs").glob("*.yaml"))
# The overlays, each with the config it is layered on (as their headers say to run them).
OVERLAYS = {
    "demo_long": "demo",
    "demo_folder": "demo",
    "voc12_strong": "voc12",
    "rehearse_voc12": "voc12",
    "rehearse_coco14": "coco14",
    "rehearse_folder": "folder",
}


def leaf_properties(schema, path=""):
    for name, sub in schema.get("properties", {}).items():
        yield f"{path}{name}", sub
        yield from leaf_properties(sub, f"{path}{name}.")


def test_every_key_has_a_description_and_a_default():
    schema = load_schema(str(CONFIG_SCHEMA))
    keys = list(leaf_properties(schema))
    assert len(keys) > 50
    missing = [k for k, sub in keys if "description" not in sub or "default" not in sub]
    assert not missing, f"keys without description/default: {missing}"


def test_defaults_are_themselves_valid():
    config = validate_config({})
    assert config["dataset"]["root"] == "data/demo_world"
    assert config["clims"]["beta"] == 24.0
    assert validate_config(config) == config


def set_values(data: dict, path: str = ""):
    """(dotted key, value) of every value a config file sets (a mapping's keys one by one)."""
    for key, value in data.items():
        if isinstance(value, dict):
            yield from set_values(value, f"{path}{key}.")
        else:
            yield f"{path}{key}", value


def value_at(config: dict, dotted: str):
    for key in dotted.split("."):
        config = config[key]
    return config


@pytest.mark.parametrize("path", CONFIGS, ids=[p.name for p in CONFIGS])
def test_shipped_configs_are_valid(path):
    """The config as it is run (a base config on its own, an overlay over its base) passes validation
    (which raises naming any invalid key), keeps every value the file sets, fills the rest into a config
    that is itself valid, and its dataset manifest (a path from the repository root) is a valid manifest."""
    assert set(OVERLAYS) <= {p.stem for p in CONFIGS} and set(OVERLAYS.values()).isdisjoint(OVERLAYS)
    written = yaml.safe_load(path.read_text())
    if path.stem in OVERLAYS:
        config = effective_config([REPO / "configs" / f"{OVERLAYS[path.stem]}.yaml", path])
    else:
        config = load_config(path)
        assert config == validate_config(written, path.name)
    values = list(set_values(written))
    assert values and all(value_at(config, key) == value for key, value in values), [
        (key, value, value_at(config, key)) for key, value in values if value_at(config, key) != value
    ]
    assert validate_config(config, f"{path.name} with defaults") == config
    if config["folder"]["images"] is None:
        manifest = DatasetManifest.load(REPO / config["dataset"]["manifest"])
    else:  # folder mode: the manifest prepare_folder will write
        manifest = DatasetManifest.from_dict(folder_manifest_dict(config["folder"]), path.name)
    assert manifest.num_classes > 0


def test_voc_config_carries_the_reference_hyperparameters():
    config = load_config("configs/voc12.yaml")
    clims = config["clims"]
    assert (clims["alpha"], clims["beta"], clims["gamma"], clims["delta"]) == (10, 24, 1, 0.2)
    assert clims["cbs_threshold"] == 0.26 and clims["epochs"] == 15 and clims["batch_size"] == 16
    assert config["clip"]["model"] == "ViT-B/32"
    assert (config["ir_label"]["fg_threshold"], config["ir_label"]["bg_threshold"]) == (0.30, 0.10)
    assert config["refine"]["bg_threshold"] == 0.2 and config["refine"]["exp_times"] == 8
    assert config["dataset"]["train_split"] == "train_aug" and config["dataset"]["seed_eval_split"] == "train"


@pytest.mark.parametrize(
    "bad, message",
    [
        ({"unknown_key": 1}, r"<top>: Additional properties are not allowed \('unknown_key'"),
        ({"clims": {"alpha": "ten"}}, r"clims.alpha: 'ten' is not of type 'number'"),
        ({"demo_world": {"cooccurrence": 1.5}}, r"demo_world.cooccurrence: 1.5 is greater than the maximum"),
        ({"refine": {"method": "magic"}}, r"refine.method: 'magic' is not one of"),
        ({"run_name": "a/b"}, r"run_name: 'a/b' does not match"),
        ({"demo_world": {"split_sizes": {"train": 0}}}, r"demo_world.split_sizes.train: 0 is less than the minimum"),
        (
            {"segmenter": {"pretrained": "cam", "init": "deeplab_caffe"}},
            r"my.yaml: segmenter.pretrained is cam, a torchvision-style ResNet, but segmenter.init is deeplab_caffe",
        ),
    ],
)
def test_bad_values_are_rejected_with_the_key_named(bad, message):
    with pytest.raises(ConfigError, match=message):
        validate_config(bad, "my.yaml")


def test_errors_name_the_file(tmp_path):
    path = tmp_path / "broken.yaml"
    path.write_text(yaml.safe_dump({"clims": {"epochs": 0}}))
    with pytest.raises(ConfigError, match=rf"{path}: invalid configuration\n  - clims.epochs"):
        load_config(path)
    path.write_text("clims: [unclosed")
    with pytest.raises(ConfigError, match=rf"{path}: not valid YAML"):
        load_config(path)
    with pytest.raises(ConfigError, match="config file not found"):
        load_config(tmp_path / "nothing.yaml")


@pytest.mark.parametrize("base, overlay", [("demo", "demo_long"), ("voc12", "voc12_strong")])
def test_overlay_configs_change_only_what_they_name(base, overlay):
    from snakemake.utils import update_config

    merged = yaml.safe_load((REPO / "configs" / f"{base}.yaml").read_text())
    layer = yaml.safe_load((REPO / "configs" / f"{overlay}.yaml").read_text())
    update_config(merged, layer)
    config = validate_config(merged, f"{base} + {overlay}")
    original = validate_config(yaml.safe_load((REPO / "configs" / f"{base}.yaml").read_text()), base)
    changed = {section for section in config if config[section] != original[section]}
    assert changed == set(layer)


def test_a_binary_or_unreadable_yaml_file_is_named(tmp_path):
    path = tmp_path / "weights.yaml"
    path.write_bytes(b"PK\x03\x04\x9b\xff\x00binary")  # a checkpoint given as a config by mistake
    with pytest.raises(ConfigError, match=rf"{path}: not a YAML text file \(byte 0x9b at offset 4 is not UTF-8\)"):
        load_config(path)
    with pytest.raises(ConfigError, match=rf"{tmp_path}: cannot read config file"):
        load_config(tmp_path)  # a folder


def test_snakemake_names_the_config_file_whose_values_are_invalid(tmp_path):
    path = tmp_path / "my_run.yaml"
    path.write_text(yaml.safe_dump({"clims": {"epochs": 0}}))
    command = [SNAKEMAKE, "-s", str(REPO / "Snakefile"), "-d", str(tmp_path), "-n", "--configfile", str(path)]
    result = subprocess.run([*command, "--cores", "1"], capture_output=True, text=True, timeout=300)
    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert f"{path}: invalid configuration\n  - clims.epochs: 0 is less than the minimum of 1" in output
    result = subprocess.run(
        [*command, "--config", "run_name=x", "--cores", "1"], capture_output=True, text=True, timeout=300
    )
    assert f"{path} + --config: invalid configuration" in result.stdout + result.stderr


def check_config(*paths):
    command = [sys.executable, str(REPO / "tools" / "check_config.py"), *map(str, paths)]
    return subprocess.run(command, capture_output=True, text=True, timeout=300)


def test_check_config_names_the_file_snakemake_does_not(tmp_path):
    """Snakemake reads --configfile files before the workflow starts and names none of these; the checker does."""
    micro = REPO / "configs" / "micro.yaml"
    result = check_config(micro)
    assert result.returncode == 0 and yaml.safe_load(result.stdout)["run_name"] == "micro"
    path = tmp_path / "overlay.yaml"
    for content, problem in [
        (b"\x89PNG\r\n\x1a\n\x00\xff", r"not a YAML text file \(byte 0x89 at offset 0 is not UTF-8\)"),
        (b"clims: [unclosed\n", r"not valid YAML"),
        (b"- a list\n", r"expected a mapping of config keys at the top level, got list"),
    ]:
        path.write_bytes(content)
        result = check_config(micro, path)
        assert result.returncode == 1 and re.search(rf"^error: {re.escape(str(path))}: {problem}", result.stderr)


@pytest.mark.parametrize("written", ["1e-4", "1E-4", "1.0e-4", "0.1e-3", "+1e-4"])
@pytest.mark.parametrize("section", ["clims", "segmenter"])
def test_a_learning_rate_written_with_an_exponent_is_a_number(tmp_path, section, written):
    """YAML 1.1 reads 1e-4 (no dot, no exponent sign) as a string; a person means the number."""
    path = tmp_path / "run.yaml"
    path.write_text(f"{section}:\n  lr: {written}\n")
    for config in (load_config(path), effective_config([REPO / "configs" / "micro.yaml", path])):
        assert config[section]["lr"] == 0.0001 and isinstance(config[section]["lr"], float)
    assert read_yaml(path, "config file") == {section: {"lr": 0.0001}}


def test_numbers_given_as_strings_validate_where_the_schema_wants_a_number():
    """Snakemake reads a nested --config value (train_cam='{epochs: 2}') with YAML's BaseLoader:
    every scalar a string. Where the schema wants a number, a boolean or null, the string is read so."""
    config = validate_config(
        {
            "train_cam": {"epochs": "2", "lr": "5E-4"},
            "segmenter": {"amp": "false", "lr": "1e-4"},
            "clims": {"lr": "1e-4", "epochs": "1e+1"},
            "eval_cam": {"sweep": ["0.1", "0.9", "5e-2"]},
            "demo_world": {"split_sizes": {"train": "10", "val": "5"}},
            "demo_clip": {"architecture": {"vision_layers": ["1", "2", "1", "1"]}},
            "run_name": "123",
        }
    )
    assert config["train_cam"]["epochs"] == 2 and type(config["train_cam"]["epochs"]) is int
    assert config["train_cam"]["lr"] == 0.0005
    assert config["segmenter"]["amp"] is False and config["segmenter"]["lr"] == 0.0001
    assert config["clims"]["lr"] == 0.0001 and config["clims"]["epochs"] == 10
    assert type(config["clims"]["epochs"]) is int
    assert config["eval_cam"]["sweep"] == [0.1, 0.9, 0.05]
    assert config["demo_world"]["split_sizes"] == {"train": 10, "val": 5}
    assert config["demo_clip"]["architecture"]["vision_layers"] == [1, 2, 1, 1]
    assert config["run_name"] == "123"  # a string where the schema wants one
    layers = validate_config({"demo_clip": {"architecture": {"vision_layers": "2"}}})["demo_clip"]["architecture"]
    assert layers["vision_layers"] == 2
    with pytest.raises(ConfigError, match=r"train_cam.epochs: '2.5' is not of type 'integer'"):
        validate_config({"train_cam": {"epochs": "2.5"}})
    with pytest.raises(ConfigError, match=r"clims.lr: 'nan' is not of type 'number'"):
        validate_config({"clims": {"lr": "nan"}})


def test_snakemake_takes_an_exponent_learning_rate_from_the_config_and_the_command_line(tmp_path):
    path = tmp_path / "overlay.yaml"
    path.write_text(f"dataset:\n  manifest: {REPO / 'data_manifest' / 'demo.yaml'}\nclims:\n  lr: 1e-4\n")
    command = [SNAKEMAKE, "-s", str(REPO / "Snakefile"), "-d", str(tmp_path), "-n", "--cores", "1"]
    command += ["--configfile", str(REPO / "configs" / "micro.yaml"), str(path)]
    command += ["--config", "segmenter={lr: 1e-4, amp: false}", "train_cam={epochs: 2}"]
    result = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]


@pytest.mark.parametrize(
    "overrides, message",
    [
        ({"refine": {"method": "irn", "crf_image": "mean_subtracted_bgr"}}, "are settings of the CRF route"),
        ({"refine": {"method": "irn", "confidence": 0.95}}, "are settings of the CRF route"),
        (
            {"seeds": {"sources": ["clip_es"], "refine_from": "clip_es"}, "irn": {"backbone_init": "cam"}},
            r"irn.backbone_init start from the CLIMS network's backbone \(cam\), but seeds.sources",
        ),
        (
            {"seeds": {"sources": ["maskclip"], "refine_from": "maskclip"}, "refine": {"method": "crf"},
             "segmenter": {"pretrained": "cam"}},
            "segmenter.pretrained start from the CLIMS network's backbone",
        ),
    ],
)  # fmt: skip
def test_seed_source_and_refinement_settings_that_would_be_ignored_or_train_clims_silently_are_refused(
    overrides, message
):
    with pytest.raises(ConfigError, match=message):
        validate_config(overrides, "my.yaml")


def test_split_labels_with_the_reward_s_choice_are_warned_about_and_nothing_else_is():
    folder = {
        "folder": {"images": "photos", "classes": ["cat", "dog"], "label_threshold": "split"},
        "refine": {"method": "crf"},
    }
    warned = config_warnings(validate_config(folder | {"reward": {"choose": True}}))
    assert len(warned) == 1 and "folder.label_threshold split with reward.choose" in warned[0]
    assert config_warnings(validate_config(folder | {"reward": {"choose": False}})) == []
    numbered = folder | {"folder": {**folder["folder"], "label_threshold": 0.3}, "reward": {"choose": True}}
    assert config_warnings(validate_config(numbered)) == []
    assert all(config_warnings(load_config(path)) == [] for path in CONFIGS if path.stem not in OVERLAYS)
