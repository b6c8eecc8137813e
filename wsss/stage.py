"""Run a stage's entry function from Snakemake (``script:``) or from the command line.

A stage file defines one entry function with explicit keyword arguments. Under Snakemake its
named inputs, outputs and params (and ``threads`` if the function takes it) become those
arguments and logging goes to the rule's log file; from a shell, ``--name value`` pairs do,
each value read as YAML (so ``--split-sizes '{train: 8}'`` works). A stage given ``devices`` > 1
re-executes itself under torchrun, one process per device (:mod:`wsss.distributed`).
"""

from __future__ import annotations

import argparse
import inspect
import json
import logging
import sys
from collections.abc import Callable
from typing import Any

import yaml

from wsss import launch
from wsss.config import section_schema
from wsss.parallel import use_threads
from wsss.provenance import run_record


def _setup_logging(log_file: str | None) -> None:
    """Log to stderr and ``log_file``; under torchrun only rank 0 logs (appending to the launcher's
    lines), the other ranks report warnings and errors to stderr."""
    handlers: list[logging.Handler] = [logging.StreamHandler(sys.stderr)]
    if log_file and launch.is_main():
        handlers.append(logging.FileHandler(log_file, mode="a" if launch.launched() else "w"))
    level = logging.INFO if launch.is_main() else logging.WARNING
    logging.basicConfig(level=level, format="%(asctime)s %(name)s: %(message)s", handlers=handlers, force=True)


def _section_keys(entry: Callable) -> dict[str, dict]:
    """The schema of each key of the config section a stage takes as ``**<section>`` (none: empty),
    less the keys the stage names as parameters of its own (an output path such as ``checkpoint``).

    Such a stage's settings are defined once, in the schema: their names, defaults and help."""
    parameters = inspect.signature(entry).parameters
    for name, param in parameters.items():
        if param.kind is inspect.Parameter.VAR_KEYWORD:
            try:
                keys = section_schema(name)["properties"]
            except KeyError:
                raise TypeError(f"{entry.__name__}: **{name} names no section of the config schema") from None
            return {key: value for key, value in keys.items() if key not in parameters}
    return {}


def _snakemake_kwargs(entry: Callable, smk: Any) -> dict[str, Any]:
    accepted = {**inspect.signature(entry).parameters, **_section_keys(entry)}
    kwargs: dict[str, Any] = {}
    for kind, group in (("input", smk.input), ("output", smk.output), ("params", smk.params)):
        for name, value in group.items():
            if name in kwargs:  # a param would silently replace an input's path
                raise TypeError(
                    f"{entry.__name__}: {kind} {name!r} clashes with an earlier input or output of that name"
                )
            kwargs[name] = value
    if "threads" in accepted:
        kwargs["threads"] = smk.threads
    unknown = sorted(set(kwargs) - set(accepted))
    if unknown:
        raise TypeError(f"{entry.__name__} does not take {', '.join(unknown)}: fix the rule or the stage")
    return kwargs


def _cli_kwargs(entry: Callable, argv: list[str] | None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=inspect.getdoc(entry))
    for name, param in inspect.signature(entry).parameters.items():
        if param.kind is inspect.Parameter.VAR_KEYWORD:
            continue
        required = param.default is inspect.Parameter.empty
        parser.add_argument(
            f"--{name.replace('_', '-')}",
            dest=name,
            type=yaml.safe_load,
            required=required,
            default=None if required else param.default,
            help=f"(YAML value){'' if required else f' default: {param.default!r}'}",
        )
    for name, key in _section_keys(entry).items():  # left out: the stage fills in the schema's default
        parser.add_argument(
            f"--{name.replace('_', '-')}",
            dest=name,
            type=yaml.safe_load,
            default=argparse.SUPPRESS,
            help=f"(YAML value) {key.get('description', '')} default: {key['default']!r}".replace("%", "%%"),
        )
    parser.add_argument("--log-file", dest="_log", default=None, help="also write the log to this file")
    args = vars(parser.parse_args(argv))
    _setup_logging(args["_log"])
    return args


def run_stage(entry: Callable, smk: Any = None, argv: list[str] | None = None) -> Any:
    """Call ``entry`` with arguments taken from the Snakemake object, else from ``argv``.

    torch uses the stage's ``threads`` (Snakemake's, or the CLI default), and the log starts with
    what besides the config decides the numbers (versions, CPU, threads, commit). Stages that do
    not import torch start without it (about 2 s sooner).
    """
    log_file = None
    if smk is not None:
        log_file = smk.log[0] if len(smk.log) else None
        _setup_logging(log_file)
        kwargs = _snakemake_kwargs(entry, smk)
    else:
        kwargs = _cli_kwargs(entry, argv)
        log_file = kwargs.pop("_log")
    devices = int(kwargs.get("devices", 1))
    if devices > 1 and not launch.launched():
        # Snakemake runs a copy of the script; __file__ of its module names the original.
        launch.relaunch(sys.modules[entry.__module__].__file__, kwargs, devices, log_file)
        return None
    if "threads" in kwargs:
        use_threads(max(1, int(kwargs["threads"])))
    logging.getLogger("run").info("%s: %s", entry.__name__, json.dumps(run_record(), sort_keys=True))
    if devices == 1 and launch.world_size() == 1:  # torch.distributed only for several processes
        return entry(**kwargs)
    from wsss.distributed import process_group

    with process_group(devices):
        return entry(**kwargs)
