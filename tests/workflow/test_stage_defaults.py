"""One definition per setting: each stage takes its config section as ``**<section>``, so the schema
alone holds a setting's name, default and help; what a stage still names itself defaults as the
schema does."""

import inspect

import pytest
from conftest import REPO, load_stage

from wsss.config import CONFIG_SCHEMA
from wsss.schema import load_schema

# Config section -> (stage file, entry function).
STAGES = {
    "demo_world": ("make_demo_world", "make_demo_world"),
    "train_cam": ("train_cam", "train_cam"),
    "clims": ("train_clims", "train_clims"),
    "make_cam": ("make_cam", "make_cam"),
    "eval_cam": ("eval_cam", "eval_cam"),
    "ir_label": ("ir_label", "ir_label"),
    "irn": ("train_irn", "train_irn"),
    "refine": ("make_pseudo_labels", "make_pseudo_labels"),
    "segmenter": ("train_seg", "train_seg"),
    "eval_seg": ("eval_seg", "eval_seg"),
    "preview": ("preview_labels", "preview_labels"),
    "demo_clip": ("train_demo_clip", "train_demo_clip_stage"),
    "folder": ("prepare_folder", "prepare_folder"),
    "clip_check": ("check_clip_classes", "check_clip_classes"),
    "reward": ("choose_refine_settings", "choose_refine_settings"),
}
# Section keys that are a rule's input or output, so the stage names them as parameters of its own.
FILES = {"demo_world.root", "demo_clip.checkpoint", "folder.images"}


def signature(stage: str, function: str) -> dict:
    return inspect.signature(getattr(load_stage(stage), function)).parameters


def schema_keys(section: str) -> dict:
    return load_schema(str(CONFIG_SCHEMA))["properties"][section]["properties"]


def same(a, b) -> bool:
    """Equal, with lists and tuples compared as sequences (signatures use tuples, YAML lists)."""
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    return a == b


@pytest.mark.parametrize("section", STAGES)
def test_each_stage_takes_its_section_and_writes_no_key_again(section):
    parameters = signature(*STAGES[section])
    assert section in parameters and parameters[section].kind is inspect.Parameter.VAR_KEYWORD
    repeated = {f"{section}.{key}" for key in set(parameters) & set(schema_keys(section))}
    assert repeated <= FILES


def test_every_stage_that_takes_a_section_is_checked_above():
    found = {}
    for path in sorted((REPO / "stages").glob("*.py")):
        module = load_stage(path.stem)
        for name, function in inspect.getmembers(module, inspect.isfunction):
            keywords = [p.name for p in inspect.signature(function).parameters.values() if p.kind is p.VAR_KEYWORD]
            if function.__module__ == module.__name__ and keywords:
                found[keywords[0]] = (path.stem, name)
    assert found == STAGES


def test_predict_tests_images_the_way_eval_seg_does():
    """predict takes eval_seg's test settings (not its headline), their defaults read from the schema."""
    predict = signature("predict", "predict")
    keys = schema_keys("eval_seg")
    assert set(predict) & set(keys) == {"scales", "fusion", "flip", "crf"}
    for key in ("scales", "fusion", "flip", "crf"):
        assert same(predict[key].default, keys[key]["default"]), key


def test_train_clims_names_clip_settings_with_the_clip_sections_defaults():
    clims = signature("train_clims", "train_clims")
    keys = schema_keys("clip")
    assert same(clims["clip_download_root"].default, keys["download_root"]["default"])
    assert same(clims["clip_input_mode"].default, keys["input_mode"]["default"])


def test_clip_scorer_input_mode_default_is_the_schema_default():
    from wsss.models.clip_scorer import ClipScorer

    default = inspect.signature(ClipScorer.__init__).parameters["input_mode"].default
    assert default == schema_keys("clip")["input_mode"]["default"]
