"""JSON-schema validation that also fills in the documented defaults."""

from __future__ import annotations

import copy
import os
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from wsss.errors import ConfigError


def _fill_defaults(validator, properties, instance, schema):
    """Insert each missing property's default before validating it (recursing into objects)."""
    if isinstance(instance, dict):
        for name, subschema in properties.items():
            if "default" in subschema and name not in instance:
                instance[name] = copy.deepcopy(subschema["default"])
    yield from jsonschema.Draft202012Validator.VALIDATORS["properties"](validator, properties, instance, schema)


_DefaultFillingValidator = jsonschema.validators.extend(jsonschema.Draft202012Validator, {"properties": _fill_defaults})


@cache
def load_schema(path: str) -> dict:
    """Read a YAML-encoded JSON schema (cached: schemas are constant during a run)."""
    return yaml.safe_load(Path(path).read_text())


def read_yaml(path: str | os.PathLike, what: str) -> Any:
    """Parse a YAML file; a missing, unreadable or binary file or a syntax error raises ConfigError naming the file."""
    path = Path(path)
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{path}: {what} not found") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(
            f"{path}: not a YAML text file (byte 0x{exc.object[exc.start]:02x} at offset {exc.start} is not UTF-8)"
        ) from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read {what} ({exc.strerror or exc})") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML ({exc})") from None


def validate_with_defaults(data: Any, schema: str | os.PathLike | dict, source: str) -> dict:
    """Return a validated deep copy of ``data`` with defaults filled; errors name ``source``.

    ``schema`` is a schema file or an already-loaded schema (one section of one, say)."""
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: expected a mapping at the top level, got {type(data).__name__}")
    data = copy.deepcopy(data)
    validator = _DefaultFillingValidator(schema if isinstance(schema, dict) else load_schema(str(schema)))
    errors = sorted(validator.iter_errors(data), key=lambda e: list(e.absolute_path))
    if errors:
        lines = [f"  - {'.'.join(map(str, e.absolute_path)) or '<top>'}: {e.message}" for e in errors[:10]]
        raise ConfigError(f"{source}: invalid configuration\n" + "\n".join(lines))
    return data
