"""Run configuration: read a YAML config and validate it against the schema, filling defaults."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from types import SimpleNamespace

import yaml

from wsss.errors import ConfigError
from wsss.io import write_text
from wsss.schema import load_schema, read_yaml, validate_with_defaults

# The one split of a dataset made from a folder of photos.
FOLDER_SPLIT = "train"
CONFIG_SCHEMA = Path(__file__).parent / "schemas" / "config.schema.yaml"


def validate_config(config: dict, source: str = "<config>") -> dict:
    """Return the validated config with every default filled; raise ConfigError naming ``source``."""
    config = validate_with_defaults(config, CONFIG_SCHEMA, source)
    _derive_folder_dataset(config, source)
    _check_demo_world_switch(config, source)
    _check_segmenter_start(config, source)
    _check_seed_sources(config, source)
    return config


def _check_seed_sources(config: dict, source: str) -> None:
    """The refined source is one the run computes; the CRF-only background and confidence are refused on
    the IRN route, which would ignore them."""
    seeds, refine = config["seeds"], config["refine"]
    if seeds["refine_from"] not in seeds["sources"]:
        raise ConfigError(
            f"{source}: seeds.refine_from is {seeds['refine_from']}, which is not in seeds.sources "
            f"{seeds['sources']}: add it there or refine one of those"
        )
    if refine["method"] == "irn" and config["reward"]["choose"]:
        raise ConfigError(
            f"{source}: reward.choose picks the CRF's background and confidence, but refine.method is irn: set "
            "refine.method: crf, or reward.choose: false"
        )
    if refine["method"] == "irn" and (
        refine["background"] != "threshold" or refine["confidence"] > 0 or refine["crf_image"] != "rgb"
    ):
        raise ConfigError(
            f"{source}: refine.background {refine['background']}, refine.confidence {refine['confidence']} and "
            f"refine.crf_image {refine['crf_image']} are settings of the CRF route: set refine.method: crf, or "
            "background: threshold, confidence: 0 and crf_image: rgb"
        )
    # A backbone from the CLIMS network would train the baseline and CLIMS for it alone.
    backbone_from_clims = [
        key
        for key, starts in (
            ("irn.backbone_init", refine["method"] == "irn" and config["irn"]["backbone_init"] == "cam"),
            ("segmenter.pretrained", config["segmenter"]["pretrained"] == "cam"),
        )
        if starts
    ]
    if backbone_from_clims and "clims" not in seeds["sources"]:
        raise ConfigError(
            f"{source}: {' and '.join(backbone_from_clims)} start from the CLIMS network's backbone (cam), but "
            f"seeds.sources {seeds['sources']} has no clims: add clims to seeds.sources, or start from ImageNet "
            "(irn.backbone_init: pretrained, segmenter.pretrained: a weights file)"
        )


def folder_dataset_paths(config: Mapping) -> dict[str, str]:
    """Where prepare_folder writes a folder-mode run's dataset (VOC layout) and its manifest."""
    run = f"{config['results_dir']}/{config['run_name']}"
    return {"root": f"{run}/dataset/prepared", "manifest": f"{run}/dataset/manifest.yaml"}


def _derive_folder_dataset(config: dict, source: str) -> None:
    """Folder mode (folder.images set): the dataset section becomes the one prepare_folder makes, all in one
    split, so that the written config.yaml says what the run read (its classes are checked as a manifest by
    wsss.data.manifest.folder_manifest, which the workflow calls next)."""
    folder = config["folder"]
    if folder["images"] is None:
        if folder["classes"]:
            raise ConfigError(
                f"{source}: folder.classes is set but folder.images is not: set folder.images to the folder of "
                "photos, or leave folder out to read the dataset section's dataset"
            )
        return
    if not folder["classes"]:
        raise ConfigError(
            f"{source}: folder.images is {folder['images']} but folder.classes lists no class: name the classes "
            "to find, as in --config 'folder={images: my_photos, classes: [cat, dog]}'"
        )
    config["dataset"] = {
        **config["dataset"],
        **folder_dataset_paths(config),
        "demo_world": False,
        "train_split": FOLDER_SPLIT,
        "seed_eval_split": FOLDER_SPLIT,
        "eval_split": FOLDER_SPLIT,
    }


def _check_segmenter_start(config: dict, source: str) -> None:
    """The CAM network's backbone (segmenter.pretrained: cam) is a torchvision-style ResNet: said when the
    config is read, not when train_seg starts after every CAM stage."""
    segmenter = config["segmenter"]
    if segmenter["pretrained"] == "cam" and segmenter["init"] != "torchvision":
        raise ConfigError(
            f"{source}: segmenter.pretrained is cam, a torchvision-style ResNet, but segmenter.init is "
            f"{segmenter['init']}: set segmenter.init: torchvision"
        )


def _check_demo_world_switch(config: dict, source: str) -> None:
    """make_demo_world writes demo_world.root: on the demo world the dataset must be that folder, on a
    dataset of one's own any other (the rule would write over it)."""
    root, world_root = config["dataset"]["root"], config["demo_world"]["root"]
    if config["dataset"]["demo_world"] and root != world_root:
        raise ConfigError(
            f"{source}: dataset.demo_world is true but dataset.root ({root}) is not demo_world.root "
            f"({world_root}), the folder make_demo_world writes: set both to the same folder, or "
            "dataset.demo_world: false to read a dataset of your own"
        )
    if not config["dataset"]["demo_world"] and root == world_root:
        raise ConfigError(
            f"{source}: dataset.demo_world is false but dataset.root is demo_world.root ({world_root}), "
            "the folder make_demo_world writes: set dataset.demo_world: true to run on the demo world, "
            "or point dataset.root at your dataset"
        )


def config_warnings(config: Mapping) -> list[str]:
    """Settings that are valid together but measured to work badly together, one sentence each for the
    run's start (the workflow prints them)."""
    warnings = []
    if config["folder"]["images"] is not None and config["folder"]["label_threshold"] == "split":
        if config["reward"]["choose"]:
            warnings.append(
                "folder.label_threshold split with reward.choose: the split's extra labels (about one in four "
                "false on the demo) lead CLIP's reward to the lowest CRF background, which cost the demo 13 to 16 "
                "pseudo-label points (docs/results.md, 'The label threshold without masks'); set the refinement "
                "by hand (reward.choose: false) or keep a number as the label threshold"
            )
    return warnings


def config_source(files: Sequence[str | os.PathLike], command_line: bool = False) -> str:
    """Where a run's config came from, for its errors: the config files (later ones override earlier
    ones), then ``--config`` values when given."""
    return " + ".join([*map(str, files), *(["--config"] if command_line else [])]) or "<config>"


def load_config(path: str | os.PathLike) -> dict:
    """Read and validate a run config file."""
    data = read_yaml(path, "config file")
    return validate_config(data if data is not None else {}, str(path))


def effective_config(paths: Sequence[str | os.PathLike]) -> dict:
    """The run config of ``--configfile paths...``: each file a mapping, merged in order as Snakemake
    merges them, validated with the schema's defaults."""
    from snakemake.utils import update_config  # Snakemake's own merge; imported only where needed

    config: dict = {}
    for path in paths:
        data = read_yaml(path, "config file")
        if not isinstance(data, dict):
            found = "nothing" if data is None else type(data).__name__
            raise ConfigError(f"{path}: expected a mapping of config keys at the top level, got {found}")
        update_config(config, data)
    return validate_config(config, config_source(paths))


def write_config(path: str | os.PathLike, config: dict) -> None:
    """Write a run's effective config as YAML (atomically), keys sorted so that two runs diff cleanly."""
    write_text(path, yaml.safe_dump(config, sort_keys=True, default_flow_style=False))


def section_schema(section: str) -> dict:
    """The schema of one config section, dotted for a nested one (``demo_clip.architecture``); its
    ``properties`` hold each key's description and default."""
    schema = load_schema(str(CONFIG_SCHEMA))
    for name in section.split("."):
        schema = schema["properties"][name]
    return schema


def validate_section(section: str, values: Mapping | None, source: str) -> dict:
    """``values`` of config section ``section`` (None: empty) validated by the schema, each missing key
    given its default, so a stage called without Snakemake sees what a run's config would give it."""
    schema = {"type": "object", "properties": {section: section_schema(section)}}
    return validate_with_defaults({section: dict(values or {})}, schema, source)[section]


def tuple_if_list(value: object) -> object:
    """A config value as a frozen settings field holds it: YAML's lists as tuples."""
    return tuple(value) if isinstance(value, list) else value


def schema_default(section: str, key: str) -> object:
    """The schema's default of ``<section>.<key>`` (a list as a tuple), for a signature that must
    default as the run config does."""
    return tuple_if_list(section_schema(section)["properties"][key]["default"])


def schema_defaults(section: str) -> Callable[[type], type]:
    """Class decorator, applied under ``@dataclass``: each annotated field without a value takes the
    default of ``<section>.<field>`` in the schema (lists as tuples), so a default is written once.
    A field without a value that is no key of the section is an error (a misspelt key, say)."""

    def apply(cls: type) -> type:
        keys = section_schema(section)["properties"]
        for name in cls.__annotations__:
            if name in vars(cls):
                continue
            if name not in keys:
                raise TypeError(f"{cls.__name__}.{name}: no value and no key {section}.{name} in the config schema")
            setattr(cls, name, schema_default(section, name))
        return cls

    return apply


def stage_settings(section: str, values: Mapping) -> SimpleNamespace:
    """The settings a stage takes as ``**<section>``: validated by the schema, the keys left out given
    their defaults, read as attributes (``settings.epochs``)."""
    return SimpleNamespace(**validate_section(section, values, f"stage setting {section}"))
