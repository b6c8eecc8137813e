"""Stage: the demo CLIP's held-out accuracies as a report table."""

import json
from pathlib import Path

from wsss.report import html_table, write_html_page
from wsss.stage import run_stage

VIEWS = {
    "object": "the object alone",
    "masked_object": "the object through its true mask",
    "background": "a background alone (against background prompts)",
}


def report_demo_clip(evaluation: str, output: str) -> None:
    """Top-1 accuracy per kind of view, against chance, and the training summary."""
    report = json.loads(Path(evaluation).read_text())
    rows = [[VIEWS[key], 100 * report[key]["top1_accuracy"]] for key in VIEWS if key in report]
    rows.append(["chance", 100 * report["chance_accuracy"]])
    training = report.get("training", {})
    notes = [
        f"{report.get('parameters_millions')} M parameters, {training.get('views')} training views, "
        f"{training.get('seconds')} s of training on {training.get('device')}"
    ]
    write_html_page(output, "Demo CLIP", [html_table("Held-out top-1 accuracy (%)", ["view", "top-1"], rows)], notes)


if __name__ == "__main__":
    run_stage(report_demo_clip, globals().get("snakemake"))
