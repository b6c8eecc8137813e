"""Run configuration: read a YAML config and validate it against the schema, filling defaults."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import yaml

from wsss.errors import ConfigError
from wsss.io import write_text
from wsss.schema import read_yaml, validate_with_defaults

CONFIG_SCHEMA = Path(__file__).parent / "schemas" / "config.schema.yaml"


def validate_config(config: dict, source: str = "<config>") -> dict:
    """Return the validated config with every default filled; raise ConfigError naming ``source``."""
    return validate_with_defaults(config, CONFIG_SCHEMA, source)


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
