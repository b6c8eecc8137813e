"""One definition per setting: the settings classes take their defaults from the config schema, and
the segmenter section splits into network settings and training plan with no key left over."""

from dataclasses import dataclass, fields

import pytest

from wsss.config import schema_defaults, section_schema, validate_section
from wsss.errors import ConfigError
from wsss.models.segmenter import SegmenterSettings, TrainingPlan, segmenter_from_config


def test_fields_without_a_value_take_the_schema_default_lists_as_tuples():
    @dataclass(frozen=True)
    @schema_defaults("segmenter")
    class Plan:
        iterations: int
        msc_scales: tuple[float, ...]
        not_a_config_key: str = "kept"

    keys = section_schema("segmenter")["properties"]
    assert Plan() == Plan(keys["iterations"]["default"], tuple(keys["msc_scales"]["default"]), "kept")


def test_nested_sections_are_reached_by_dotted_names():
    assert section_schema("demo_clip.architecture")["properties"]["embed_dim"]["default"] == 128


def test_the_segmenter_section_is_exactly_network_plus_plan_plus_initial_weights():
    section = validate_section("segmenter", {"iterations": 7, "msc_scales": [0.5]}, "test")
    settings, plan = segmenter_from_config(section, ["cat", "dog"])
    assert (settings.num_classes, settings.class_names) == (3, ("cat", "dog"))
    assert plan.iterations == 7 and plan.msc_scales == (0.5,)
    network = {f.name for f in fields(SegmenterSettings)} - {"num_classes", "class_names"}
    schedule = {f.name for f in fields(TrainingPlan)}
    assert network | schedule | {"pretrained"} == set(section) and not network & schedule
    with pytest.raises(ConfigError, match="neither network settings nor training plan"):
        segmenter_from_config({**section, "stray": 1}, ["cat"])


def test_a_stage_called_without_snakemake_gets_validated_defaults():
    assert validate_section("segmenter", None, "test")["iterations"] == 30000
    with pytest.raises(ConfigError, match="train_seg"):
        validate_section("segmenter", {"iterations": 0}, "train_seg")


def test_no_schema_entry_was_cut_by_an_unquoted_comma():
    """An unquoted description with a comma inside ``{...}`` splits into a stray key with a null value."""
    from wsss.config import CONFIG_SCHEMA
    from wsss.schema import load_schema

    def stray(node, path):
        if isinstance(node, dict):
            for key, value in node.items():
                if value is None and key != "default":
                    yield f"{path}.{key}"
                yield from stray(value, f"{path}.{key}")

    assert list(stray(load_schema(str(CONFIG_SCHEMA)), "schema")) == []


def test_a_misspelt_field_is_named():
    with pytest.raises(TypeError, match="Plan.typo_in_a_key: no value and no key segmenter.typo_in_a_key"):

        @dataclass(frozen=True)
        @schema_defaults("segmenter")
        class Plan:
            typo_in_a_key: int
            iterations: int
