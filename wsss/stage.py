"""Run a stage's entry function from Snakemake (``script:``) or from the command line.

A stage file defines one entry function with explicit keyword arguments. Under Snakemake its
named inputs, outputs and params (and ``threads`` if the function takes it) become those
arguments and logging goes to the rule's log file; from a shell, ``--name value`` pairs do,
each value read as YAML (so ``--split-sizes '{train: 8}'`` works).
"""

from __future__ import annotations

import argparse
import inspect
import logging
import sys
from collections.abc import Callable
from typing import Any

import yaml


def _setup_logging(log_file: str | None) -> None:
    handlers: list[logging.Handler] = [logging.StreamHandler(sys.stderr)]
    if log_file:
        handlers.append(logging.FileHandler(log_file, mode="w"))
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s", handlers=handlers, force=True)


def _snakemake_kwargs(entry: Callable, smk: Any) -> dict[str, Any]:
    accepted = inspect.signature(entry).parameters
    kwargs: dict[str, Any] = {}
    for group in (smk.input, smk.output, smk.params):
        kwargs.update({name: value for name, value in group.items()})
    if "threads" in accepted:
        kwargs["threads"] = smk.threads
    unknown = sorted(set(kwargs) - set(accepted))
    if unknown:
        raise TypeError(f"{entry.__name__} does not take {', '.join(unknown)}: fix the rule or the stage")
    return kwargs


def _cli_kwargs(entry: Callable, argv: list[str] | None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=inspect.getdoc(entry))
    for name, param in inspect.signature(entry).parameters.items():
        required = param.default is inspect.Parameter.empty
        parser.add_argument(
            f"--{name.replace('_', '-')}",
            dest=name,
            type=yaml.safe_load,
            required=required,
            default=None if required else param.default,
            help=f"(YAML value){'' if required else f' default: {param.default!r}'}",
        )
    parser.add_argument("--log", dest="_log", default=None, help="also write the log to this file")
    args = vars(parser.parse_args(argv))
    _setup_logging(args.pop("_log"))
    return args


def run_stage(entry: Callable, smk: Any = None, argv: list[str] | None = None) -> Any:
    """Call ``entry`` with arguments taken from the Snakemake object, else from ``argv``."""
    if smk is not None:
        _setup_logging(smk.log[0] if len(smk.log) else None)
        kwargs = _snakemake_kwargs(entry, smk)
    else:
        kwargs = _cli_kwargs(entry, argv)
    return entry(**kwargs)
