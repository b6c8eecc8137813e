"""JSON-schema validation that also fills in the documented defaults."""

from __future__ import annotations

import copy
import os
import re
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


class _Loader(yaml.SafeLoader):
    """SafeLoader that also reads YAML 1.2 floats: 1e-4, 5E-4 and 1e+3, which YAML 1.1 (a dot and
    an exponent sign required) leaves as strings."""


_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?(?:[0-9][0-9_]*(?:\.[0-9_]*)?|\.[0-9][0-9_]*)[eE][-+]?[0-9]+$"),
    list("-+0123456789."),
)

# Scalars as people write them (the YAML 1.2 core schema), for strings where the schema wants a number,
# an integer, a boolean or null: Snakemake reads a nested --config value with YAML's BaseLoader,
# every scalar a string, and YAML 1.1 reads 1e-4 as one.
_NUMBER = re.compile(r"[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?")
_BOOLEANS = {"true": True, "True": True, "TRUE": True, "false": False, "False": False, "FALSE": False}
_NULLS = {"null", "Null", "NULL", "~"}


def _types(schema: dict) -> set[str]:
    types = schema.get("type", ())
    return {types} if isinstance(types, str) else set(types)


def _scalar(value: str, schema: dict) -> Any:
    """``value`` as the number, boolean or null that the schema wants here; unchanged where the
    schema takes a string (or does not say) or the string is no such value (validation names it)."""
    types = _types(schema)
    if not types or "string" in types:
        return value
    if types & {"integer", "number"} and _NUMBER.fullmatch(value.strip()):
        number = float(value)
        if re.fullmatch(r"[-+]?[0-9]+", value.strip()):
            return int(value)
        if "number" in types:
            return number
        if number.is_integer():
            return int(number)
    if "boolean" in types and value in _BOOLEANS:
        return _BOOLEANS[value]
    if "null" in types and value in _NULLS:
        return None
    return value


def coerce_strings(data: Any, schema: dict) -> Any:
    """``data`` with each string read as a number, integer, boolean or null where the schema at that
    place wants one and does not take a string (``'2'`` -> 2, ``'1e-4'`` -> 0.0001; ``'2.5'`` stays
    a string for an integer, and validation refuses it), recursing into objects and arrays."""
    if not isinstance(schema, dict):
        return data
    for alternative in schema.get("oneOf", []) + schema.get("anyOf", []):
        coerced = coerce_strings(data, alternative)
        if coerced != data and jsonschema.Draft202012Validator(alternative).is_valid(coerced):
            return coerced
    for part in schema.get("allOf", []):
        data = coerce_strings(data, part)
    if isinstance(data, str):
        return _scalar(data, schema)
    if isinstance(data, dict):
        properties, patterns = schema.get("properties", {}), schema.get("patternProperties", {})
        coerced = {}
        for key, value in data.items():
            if key in properties:
                value = coerce_strings(value, properties[key])
            elif matching := [sub for pattern, sub in patterns.items() if re.search(pattern, key)]:
                for sub in matching:
                    value = coerce_strings(value, sub)
            else:
                value = coerce_strings(value, schema.get("additionalProperties"))
            coerced[key] = value
        return coerced
    if isinstance(data, list):
        prefix = schema.get("prefixItems", [])
        items = schema.get("items")
        return [coerce_strings(value, prefix[i] if i < len(prefix) else items) for i, value in enumerate(data)]
    return data


@cache
def load_schema(path: str) -> dict:
    """Read a YAML-encoded JSON schema (cached: schemas are constant during a run)."""
    return yaml.safe_load(Path(path).read_text())


def read_yaml(path: str | os.PathLike, what: str) -> Any:
    """Parse a YAML file; a missing, unreadable or binary file or a syntax error raises ConfigError naming the file."""
    path = Path(path)
    try:
        return yaml.load(path.read_text(encoding="utf-8"), Loader=_Loader)  # _Loader is a SafeLoader
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

    ``schema`` is a schema file or an already-loaded schema (one section of one, say). A string
    where the schema wants a number, an integer, a boolean or null is first read as one (see
    ``coerce_strings``)."""
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: expected a mapping at the top level, got {type(data).__name__}")
    schema = schema if isinstance(schema, dict) else load_schema(str(schema))
    data = coerce_strings(copy.deepcopy(data), schema)
    validator = _DefaultFillingValidator(schema)
    errors = sorted(validator.iter_errors(data), key=lambda e: list(e.absolute_path))
    if errors:
        lines = [f"  - {'.'.join(map(str, e.absolute_path)) or '<top>'}: {e.message}" for e in errors[:10]]
        raise ConfigError(f"{source}: invalid configuration\n" + "\n".join(lines))
    return data
