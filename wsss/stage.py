"""Run a stage's entry function from Snakemake (``script:``) or from the command line.

A stage file defines one entry function with explicit keyword arguments. Under Snakemake its
named inputs, outputs and params (and ``threads`` if the function takes it) become those
arguments and logging goes to the rule's log file; from a shell, ``--name value`` pairs do,
each value read as YAML (so ``--split-sizes '{train: 8}'`` works).
"""

from __future__ import annotations

import argparse
import inspect
import json
import logging
import sys
from collections.abc import Callable
from typing import Any

import torch
import yaml

from wsss.provenance import run_record


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
    """Call ``entry`` with arguments taken from the Snakemake object, else from ``argv``.

    torch uses the stage's ``threads`` (Snakemake's, or the CLI default), and the log starts with
    what besides the config decides the numbers (versions, CPU, threads, commit).
    """
    if smk is not None:
        _setup_logging(smk.log[0] if len(smk.log) else None)
        kwargs = _snakemake_kwargs(entry, smk)
    else:
        kwargs = _cli_kwargs(entry, argv)
    if "threads" in kwargs:
        torch.set_num_threads(max(1, int(kwargs["threads"])))
    logging.getLogger("run").info("%s: %s", entry.__name__, json.dumps(run_record(), sort_keys=True))
    return entry(**kwargs)
