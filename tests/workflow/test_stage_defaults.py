"""One source for each default: every schema key a stage takes has the same default in its signature."""

import inspect

import pytest
from conftest import load_stage

from wsss.config import CONFIG_SCHEMA
from wsss.schema import load_schema

# Config section -> (stage file, entry function).
STAGES = {
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
}
# Keys the workflow reads itself, or that name the rule's output: not stage arguments.
NOT_STAGE_ARGUMENTS = {"eval_cam.compare_baseline", "demo_clip.checkpoint", "demo_clip.architecture"}


def signature(stage: str, function: str) -> dict:
    return inspect.signature(getattr(load_stage(stage), function)).parameters


def same(a, b) -> bool:
    """Equal, with lists and tuples compared as sequences (signatures use tuples, YAML lists)."""
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    return a == b


@pytest.mark.parametrize("section", STAGES)
def test_stage_signature_defaults_equal_the_schema(section):
    parameters = signature(*STAGES[section])
    keys = load_schema(str(CONFIG_SCHEMA))["properties"][section]["properties"]
    if section in parameters and parameters[section].kind is inspect.Parameter.VAR_KEYWORD:
        # The stage takes the section as **<section>: the schema alone defines its keys and defaults.
        assert not set(parameters) & set(keys), "a section key written again in the stage's signature"
        return
    wrong = []
    for key, sub in keys.items():
        if f"{section}.{key}" in NOT_STAGE_ARGUMENTS:
            continue
        if key not in parameters:
            wrong.append(f"{key}: not an argument of stages/{STAGES[section][0]}.py")
        elif not same(parameters[key].default, sub["default"]):
            wrong.append(f"{key}: stage {parameters[key].default!r}, schema {sub['default']!r}")
    assert wrong == []


def test_predict_tests_images_the_way_eval_seg_does():
    """predict takes eval_seg's test settings (not its headline), their defaults read from the schema."""
    predict = signature("predict", "predict")
    keys = load_schema(str(CONFIG_SCHEMA))["properties"]["eval_seg"]["properties"]
    assert set(predict) & set(keys) == {"scales", "fusion", "flip", "crf"}
    for key in ("scales", "fusion", "flip", "crf"):
        assert same(predict[key].default, keys[key]["default"]), key


def test_clip_scorer_input_mode_default_is_the_schema_default():
    from wsss.models.clip_scorer import ClipScorer

    default = inspect.signature(ClipScorer.__init__).parameters["input_mode"].default
    assert default == load_schema(str(CONFIG_SCHEMA))["properties"]["clip"]["properties"]["input_mode"]["default"]
