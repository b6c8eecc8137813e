"""Write docs/parameters.md and docs/parameters_clip_es.md: every hyperparameter of the VOC and COCO
runs beside the value of the code they reproduce.

docs/parameters.md: the CLIMS runs (configs/voc12.yaml, configs/coco14.yaml) against CLIMS's code, from
docs/reference_parameters.yaml. docs/parameters_clip_es.md: the CLIP-ES variants (voc12_clip_es.yaml
and coco14_clip_es.yaml layered on them) against CLIP-ES's code, from
docs/reference_parameters_clip_es.yaml, for the sections a seed source and what follows it decide.
The effective configs are the files plus the schema's defaults (what Snakemake runs). ``--check``
exits non-zero when a written table is out of date or when a value differs from the reference
without a documented difference.

    python tools/parameter_table.py            # rewrite both tables
    python tools/parameter_table.py --check    # what CI runs (through the tests)
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from pathlib import Path

import yaml

from wsss.config import effective_config
from wsss.schema import read_yaml

REPO = Path(__file__).resolve().parents[1]
RUNS = ("voc12", "coco14")


@dataclass(frozen=True)
class Table:
    """One generated table: the config files of each run, the reference file, the output and its title."""

    files: dict[str, tuple[str, ...]]
    reference: Path
    output: Path
    title: str
    code: str
    sections: tuple[str, ...] = ()  # only these sections' keys (empty: all)


TABLES = (
    Table(
        {"voc12": ("voc12",), "coco14": ("coco14",)},
        REPO / "docs" / "reference_parameters.yaml",
        REPO / "docs" / "parameters.md",
        "Hyperparameters of the VOC and COCO runs against the reference",
        "the reference",
    ),
    Table(
        {"voc12": ("voc12", "voc12_clip_es"), "coco14": ("coco14", "coco14_clip_es")},
        REPO / "docs" / "reference_parameters_clip_es.yaml",
        REPO / "docs" / "parameters_clip_es.md",
        "Hyperparameters of the CLIP-ES runs against CLIP-ES's code",
        "CLIP-ES's code",
        ("seeds.", "clip_es.", "maskclip.", "eval_cam.", "refine.", "crf.", "segmenter.", "eval_seg."),
    ),
)
# Keys whose values are not hyperparameters of the method: where things are, the demo, how work is
# sharded and on how many devices it trains, and folder mode's own dataset (unset in these runs).
NOT_HYPERPARAMETERS = (
    "run_name",
    "results_dir",
    "shards.",
    "devices.",
    "voc_sbd.",
    "coco.",
    "fetch.",
    "dataset.",
    "folder.",
    "demo_world.",
    "demo_clip.",
)


def flatten(config: dict, prefix: str = "") -> dict[str, object]:
    """Dotted key -> value, descending into sections (a section is a dict whose values are settings)."""
    flat: dict[str, object] = {}
    for key, value in config.items():
        if isinstance(value, dict) and prefix == "":
            flat.update(flatten(value, f"{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def effective_hyperparameters(names: tuple[str, ...], sections: tuple[str, ...] = ()) -> dict[str, object]:
    """The run's hyperparameters as Snakemake sees them: the config files merged in order plus the
    schema's defaults (only the keys of ``sections``, when given)."""
    config = effective_config([REPO / "configs" / f"{name}.yaml" for name in names])
    return {
        k: v
        for k, v in flatten(config).items()
        if not k.startswith(NOT_HYPERPARAMETERS) and (not sections or k.startswith(sections))
    }


def problems(effective: dict[str, dict], reference: dict[str, dict], reference_file: Path) -> list[str]:
    """Keys missing from the reference file, and values that differ without a documented difference."""
    found = []
    for run, values in effective.items():
        for key, value in values.items():
            entry = reference.get(key)
            if entry is None:
                found.append(f"{key}: not in {reference_file.name} (add its reference value or mark it project-only)")
            elif "project" in entry:
                continue
            elif run not in entry:
                found.append(f"{key}: no reference value for {run}")
            elif entry[run] != value and "difference" not in entry:
                found.append(
                    f"{key}: {run} runs {value!r}, the reference {entry[run]!r}, and no difference is documented"
                )
    stale = sorted(set(reference) - set().union(*(set(v) for v in effective.values())))
    found += [f"{key}: in {reference_file.name} but no longer a config key" for key in stale]
    return found


def cell(value: object) -> str:
    return (
        "—"
        if value is None
        else f"`{yaml.safe_dump(value, default_flow_style=True).strip().removesuffix('...').strip()}`"
    )


def render(table: Table, effective: dict[str, dict], reference: dict[str, dict]) -> str:
    """The markdown table: one row per key, each run's value beside the reference's; the published
    results (the reference file's ``published`` entry) above it."""
    files = ", ".join(" + ".join(f"`configs/{name}.yaml`" for name in names) for names in table.files.values())
    lines = [
        f"# {table.title}",
        "",
        f"Generated by `python tools/parameter_table.py` from {files},",
        f"the schema's defaults and `docs/{table.reference.name}`; a test fails when this file is out of",
        f"date or when a value differs from {table.code} without a documented difference (marked ≠).",
        "Project-only settings (performance, bookkeeping) have no reference value.",
        "",
    ]
    for line in published_lines(reference):
        lines.append(line)
    lines += [
        "| key | VOC 2012 | reference | COCO 2014 | reference | source / difference |",
        "|---|---|---|---|---|---|",
    ]
    for key in sorted(set().union(*(set(v) for v in effective.values()))):
        entry = reference[key] if isinstance(reference.get(key), dict) else {}
        row = [f"`{key}`"]
        for run in RUNS:
            value = effective[run].get(key)
            ref = entry.get(run)
            mark = " ≠" if "project" not in entry and run in entry and ref != value else ""
            row += [cell(value) + mark, "project" if "project" in entry else cell(ref)]
        note = entry.get("difference") or entry.get("project") or entry.get("source", "")
        row.append(str(note).replace("|", "\\|").replace("\n", " ").strip())
        lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines) + "\n"


def published_lines(reference: dict) -> list[str]:
    """The reference file's ``published`` results (what the code's authors report, with the source) as a list."""
    published = reference.get("published", [])
    if not published:
        return []
    lines = ["Published results of the code these settings follow:", ""]
    lines += [f"- {entry['what']}: {entry['value']} ({entry['source']})" for entry in published]
    return [*lines, ""]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--check", action="store_true", help="fail if the table is stale or a difference is undocumented"
    )
    args = parser.parse_args(argv)
    found = []
    for table in TABLES:
        reference = read_yaml(table.reference, "reference parameters") or {}
        effective = {run: effective_hyperparameters(names, table.sections) for run, names in table.files.items()}
        settings = {key: entry for key, entry in reference.items() if key != "published"}
        found += problems(effective, settings, table.reference)
        text = render(table, effective, settings | {"published": reference.get("published", [])})
        if args.check:
            if not table.output.is_file() or table.output.read_text() != text:
                found.append(f"{table.output}: out of date; run python tools/parameter_table.py")
        else:
            table.output.write_text(text)
    for line in found:
        print(line, file=sys.stderr)
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
