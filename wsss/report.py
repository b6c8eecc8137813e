"""Pictures and tables for Snakemake's HTML report, made from the JSON and TSV files the stages write.

Tables are small standalone HTML pages (the report embeds them); plots are matplotlib PNGs. Each
function reads only what its stage already wrote, so the report never reruns a computation.
"""

from __future__ import annotations

import csv
import html
import os
from collections.abc import Mapping
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only: no display on the machines that run the workflow
import matplotlib.pyplot as plt  # noqa: E402

from wsss.io import atomic_path, write_text  # noqa: E402

STYLE = (
    "body{font-family:sans-serif;margin:1em}table{border-collapse:collapse;margin-bottom:1.5em}"
    "th,td{border:1px solid #bbb;padding:3px 8px;text-align:right}th{background:#eee}"
    "td:first-child,th:first-child{text-align:left}caption{font-weight:bold;text-align:left;padding:4px 0}"
)


def _cell(value: object) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:.2f}"
    return html.escape(str(value))


def html_table(caption: str, header: list[str], rows: list[list[object]]) -> str:
    """One HTML table; None shows as a dash and floats with two decimals."""
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{_cell(v)}</td>" for v in row) + "</tr>" for row in rows)
    return f"<table><caption>{html.escape(caption)}</caption><tr>{head}</tr>{body}</table>"


def write_html_page(path: str | os.PathLike, title: str, tables: list[str], notes: list[str] = ()) -> None:
    """A standalone page holding ``tables`` (what the report shows when the item is opened)."""
    paragraphs = "".join(f"<p>{html.escape(note)}</p>" for note in notes)
    write_text(
        path,
        f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
        f"<style>{STYLE}</style></head><body><h2>{html.escape(title)}</h2>{paragraphs}{''.join(tables)}</body></html>\n",
    )


def scores_side_by_side(caption: str, scores: Mapping[str, dict], measure: str = "IoU") -> str:
    """Per-class ``measure`` of several score sets (columns) and their summaries as the last rows."""
    names = list(scores)
    classes = sorted(next(iter(scores.values()))["per_class"], key=lambda name: name != "background")
    rows = [[cls, *(scores[n]["per_class"].get(cls, {}).get(measure) for n in names)] for cls in classes]
    for key in next(iter(scores.values()))["summary"]:
        rows.append([key, *(scores[n]["summary"].get(key) for n in names)])
    return html_table(caption, ["class", *names], rows)


def leak_table(caption: str, leaks: Mapping[str, dict]) -> str:
    """Per class, the share of its co-occurring background labelled as the class (percent)."""
    names = list(leaks)
    classes = list(next(iter(leaks.values()))["per_class"])

    def percent(value: float | None) -> float | None:
        return None if value is None else 100 * value

    rows = [[cls, *(percent(leaks[n]["per_class"][cls]) for n in names)] for cls in classes]
    rows.append(["overall", *(percent(leaks[n]["overall"]) for n in names)])
    return html_table(caption, ["class", *names], rows)


def save_figure(figure: plt.Figure, path: str | os.PathLike) -> None:
    """Write a PNG atomically and free the figure."""
    with atomic_path(path) as tmp:
        figure.savefig(tmp, format="png", dpi=110, bbox_inches="tight")
    plt.close(figure)


def plot_threshold_sweeps(sweeps: Mapping[str, Mapping[str, float]], marks: set[float], path: str) -> None:
    """Seed mIoU against the background threshold, one line per CAM model, the fixed thresholds marked."""
    figure, axes = plt.subplots(figsize=(6, 3.6))
    for name, sweep in sweeps.items():
        thresholds = sorted(sweep, key=float)
        axes.plot([float(t) for t in thresholds], [sweep[t] for t in thresholds], marker=".", label=name)
    for threshold in sorted(marks):
        axes.axvline(threshold, color="grey", linestyle=":", linewidth=1)
        axes.annotate(f"fixed {threshold:g}", (threshold, axes.get_ylim()[0]), fontsize=8, color="grey")
    axes.set_xlabel("background threshold")
    axes.set_ylabel("seed mIoU (%)")
    axes.grid(alpha=0.3)
    if sweeps:
        axes.legend()
    else:  # a dataset without masks
        axes.text(0.5, 0.5, "no ground-truth masks: not scored", ha="center", transform=axes.transAxes)
    save_figure(figure, path)


def plot_training_curves(histories: Mapping[str, list[dict]], path: str) -> None:
    """One panel per training stage: every logged loss term per epoch (or per logged iteration)."""
    histories = {name: records for name, records in histories.items() if records}
    figure, panels = plt.subplots(1, max(1, len(histories)), figsize=(4.2 * max(1, len(histories)), 3.4))
    panels = [panels] if len(histories) <= 1 else list(panels)
    for axes, (name, records) in zip(panels, histories.items()):
        terms = [key for key in records[0] if isinstance(records[0][key], (int, float)) and key != "iteration"]
        x = [r.get("iteration", i + 1) for i, r in enumerate(records)]
        for term in terms:
            axes.plot(x, [r.get(term) for r in records], marker="." if len(records) < 30 else None, label=term)
        axes.set_title(name)
        axes.set_xlabel("iteration" if "iteration" in records[0] else "epoch")
        axes.grid(alpha=0.3)
        axes.legend(fontsize=7)
    save_figure(figure, path)


def read_benchmarks(folder: str | os.PathLike) -> dict[str, dict[str, float]]:
    """Rule (file stem) -> seconds and peak memory (MB) from Snakemake's benchmark TSV files."""
    result = {}
    for path in sorted(Path(folder).glob("*.tsv")):
        with path.open() as handle:
            row = next(csv.DictReader(handle, delimiter="\t"), None)
        if row is not None:
            result[path.stem] = {"seconds": _number(row, "s"), "max_rss_mb": _number(row, "max_rss")}
    return result


def _number(row: dict, key: str) -> float:
    """A benchmark field as a float; Snakemake writes "-" where it could not measure."""
    try:
        return float(row.get(key) or 0)
    except ValueError:
        return 0.0


def plot_rule_resources(benchmarks: Mapping[str, dict[str, float]], path: str) -> None:
    """Each rule's wall time and peak memory as horizontal bars."""
    rules = sorted(benchmarks, key=lambda r: benchmarks[r]["seconds"])
    figure, (time_axes, memory_axes) = plt.subplots(1, 2, figsize=(10, 0.32 * len(rules) + 1.2), sharey=True)
    time_axes.barh(rules, [benchmarks[r]["seconds"] for r in rules], color="tab:blue")
    time_axes.set_xlabel("wall time (s)")
    memory_axes.barh(rules, [benchmarks[r]["max_rss_mb"] for r in rules], color="tab:orange")
    memory_axes.set_xlabel("peak memory (MB)")
    for axes in (time_axes, memory_axes):
        axes.grid(axis="x", alpha=0.3)
    save_figure(figure, path)
