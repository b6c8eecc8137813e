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


class _TracebackLeftOut(logging.Formatter):
    """stderr's format: an error's one line only, as Python prints the traceback there itself
    when the exception leaves the stage."""

    def format(self, record: logging.LogRecord) -> str:
        if record.exc_info or record.exc_text:
            record = logging.makeLogRecord({**record.__dict__, "exc_info": None, "exc_text": None})
        return super().format(record)


LOG_FORMAT = "%(asctime)s %(name)s: %(message)s"


def _setup_logging(log_file: str | None) -> None:
    """Log to stderr and ``log_file``; under torchrun only rank 0 logs (appending to the launcher's
    lines), the other ranks report warnings and errors to stderr."""
    terminal = logging.StreamHandler(sys.stderr)
    terminal.setFormatter(_TracebackLeftOut(LOG_FORMAT))
    handlers: list[logging.Handler] = [terminal]
    if log_file and launch.is_main():
        file = logging.FileHandler(log_file, mode="a" if launch.launched() else "w")
        file.setFormatter(logging.Formatter(LOG_FORMAT))
        handlers.append(file)
    level = logging.INFO if launch.is_main() else logging.WARNING
    logging.basicConfig(level=level, handlers=handlers, force=True)


def _log_failure(entry: Callable, error: Exception) -> None:
    """The error in one line, then its traceback, into the log file (on a cluster the terminal is
    gone, and Snakemake points at the log); stderr gets the line (any rank)."""
    rank = f" on rank {launch.rank()} of {launch.world_size()}" if launch.launched() else ""
    logging.getLogger("run").error(
        "%s failed%s: %s: %s", entry.__name__, rank, type(error).__name__, error, exc_info=error
    )
    for handler in logging.getLogger().handlers:
        handler.flush()


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
    not import torch start without it (about 2 s sooner). An exception it raises is logged (one
    line, then the traceback: see :func:`_log_failure`) and raised again.
    """
    if smk is not None:
        log_file = smk.log[0] if len(smk.log) else None
        _setup_logging(log_file)
    else:
        kwargs = _cli_kwargs(entry, argv)  # sets up logging
        log_file = kwargs.pop("_log")
    try:
        if smk is not None:
            kwargs = _snakemake_kwargs(entry, smk)
        return _call(entry, kwargs, log_file)
    except Exception as error:  # re-raised: the exit status stays non-zero
        _log_failure(entry, error)
        raise


def _call(entry: Callable, kwargs: dict[str, Any], log_file: str | None) -> Any:
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
