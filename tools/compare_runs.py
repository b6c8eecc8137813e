"""Compare the results of two runs of the pipeline: are they the same numbers, file for file?

    python tools/compare_runs.py results/demo /tmp/other/results/demo
    python tools/compare_runs.py results/demo /tmp/other/results/demo --also data/demo_world /tmp/other/data/demo_world

CAM arrays are compared value for value, label PNGs (seeds, IR and pseudo-labels, predictions,
previews) and the tables byte for byte, model checkpoints tensor for tensor with their metadata,
and the JSON reports once the fields that record time or place are left out. ``--also`` adds two
folders compared byte for byte (a generated dataset, say), ``--torchscript`` two TorchScript
models (the demo CLIP) tensor for tensor. Prints what was compared and exits 1,
naming the files, when anything differs. Used to show that a change of code leaves a run's results
as they were, and by the determinism tests.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from pathlib import Path

import numpy as np

# Fields of result JSONs that record time or where things are, not results.
NOT_RESULTS = {
    "seconds",
    "epoch_seconds",
    "images_per_second",
    "iterations_per_second",
    "median_batch_seconds",
    "render_seconds",
    "checkpoint",
    "root",
    "device",
}


def results_only(value):
    """A JSON value with timing and path fields removed, recursively."""
    if isinstance(value, dict):
        return {k: results_only(v) for k, v in value.items() if k not in NOT_RESULTS}
    if isinstance(value, list):
        return [results_only(v) for v in value]
    return value


def _relative(root: Path, pattern: str, skip: tuple[str, ...] = ()) -> list[Path]:
    return sorted(p.relative_to(root) for p in root.glob(pattern) if p.is_file() and not set(skip) & set(p.parts))


def _same_cams(a: Path, b: Path) -> bool:
    with np.load(a) as x, np.load(b) as y:
        return sorted(x.files) == sorted(y.files) and all(np.array_equal(x[k], y[k]) for k in x.files)


def _same_checkpoint(a: Path, b: Path) -> bool:
    import torch  # only here: comparing tables and PNGs needs no torch

    x, y = (torch.load(p, map_location="cpu", weights_only=True) for p in (a, b))
    if x.get("meta") != y.get("meta") or x["model"].keys() != y["model"].keys():
        return False
    return all(torch.equal(x["model"][k], y["model"][k]) for k in x["model"])


def same_torchscript(a: Path, b: Path) -> bool:
    """Two TorchScript files hold equal tensors (their archives differ by the name they were written under)."""
    import torch

    x, y = (torch.jit.load(p, map_location="cpu").state_dict() for p in (a, b))
    return x.keys() == y.keys() and all(torch.equal(x[k], y[k]) for k in x)


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _same_bytes(a: Path, b: Path) -> bool:
    return a.is_file() and b.is_file() and _sha256(a) == _sha256(b)


def compare_runs(first: Path, second: Path) -> tuple[dict[str, int], list[str]]:
    """(files compared per kind, files that differ or are missing in ``second``) of two result folders."""
    kinds = {
        "CAM arrays": (_relative(first, "cams/*/*.npz"), _same_cams),
        "PNGs": (_relative(first, "**/*.png", skip=("report", "shards")), _same_bytes),
        "tables": (_relative(first, "**/*.txt", skip=("shards", "logs")), _same_bytes),
        "JSON reports": (
            _relative(first, "**/*.json", skip=("benchmarks", "shards")),
            lambda a, b: results_only(json.loads(a.read_text())) == results_only(json.loads(b.read_text())),
        ),
        "checkpoints": (_relative(first, "models/*.pt"), _same_checkpoint),
    }
    counts, different = {}, []
    for kind, (names, same) in kinds.items():
        counts[kind] = len(names)
        for name in names:
            if not (second / name).is_file() or not same(first / name, second / name):
                different.append(f"{kind}: {name}")
    return counts, different


def compare_folders(first: Path, second: Path) -> tuple[int, list[str]]:
    """(files compared, files that differ or are missing in either) of two folders, byte for byte."""
    names = sorted({*_relative(first, "**/*"), *_relative(second, "**/*")})
    different = [str(name) for name in names if not _same_bytes(first / name, second / name)]
    return len(names), different


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("first", type=Path, help="a run's results folder (results/<run_name>)")
    parser.add_argument("second", type=Path, help="the other run's results folder")
    parser.add_argument("--also", nargs=2, type=Path, action="append", default=[], metavar=("A", "B"))
    parser.add_argument("--torchscript", nargs=2, type=Path, action="append", default=[], metavar=("A", "B"))
    args = parser.parse_args(argv)
    counts, different = compare_runs(args.first, args.second)
    print(", ".join(f"{n} {kind}" for kind, n in counts.items()), "compared")
    for a, b in args.also:
        n, folder_different = compare_folders(a, b)
        print(f"{n} files of {a} compared byte for byte")
        different += [f"{a}: {name}" for name in folder_different]
    for a, b in args.torchscript:
        print(f"TorchScript {a} compared tensor for tensor")
        different += [] if same_torchscript(a, b) else [f"TorchScript: {a}"]
    if different:
        print(f"{len(different)} differ:", *different[:20], sep="\n  ")
        return 1
    print("all equal")
    return 0


if __name__ == "__main__":
    sys.exit(main())
