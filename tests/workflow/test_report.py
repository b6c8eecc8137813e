"""The HTML report of the micro run: every item in its category, tables that hold the JSON reports'
numbers, and pages that render in a real browser."""

import copy
import json
import re
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import pytest
from workflow_helpers import snakemake, snakemake_command

RUN = "results/micro"
# Each report item (its path in the working directory) with the category and subcategory it must sit
# in ("Other": none given).
ITEMS = {
    f"{RUN}/report/dataset.html": ("1. Data", "Other"),
    f"{RUN}/demo_world/contact_sheet.png": ("1. Data", "Other"),
    f"{RUN}/report/demo_clip.html": ("1. Data", "Other"),
    f"{RUN}/report/seeds.html": ("2. CAMs", "Other"),
    f"{RUN}/report/seed_sweep.png": ("2. CAMs", "Other"),
    f"{RUN}/report/labels.html": ("3. Refinement", "Other"),
    f"{RUN}/ir_labels_preview/contact_sheet.png": ("3. Refinement", "ir_labels"),
    f"{RUN}/pseudo_labels_preview/contact_sheet.png": ("3. Refinement", "pseudo_labels"),
    f"{RUN}/report/segmenter.html": ("4. Segmentation", "Other"),
    f"{RUN}/report/training_curves.png": ("5. Run", "Other"),
    f"{RUN}/report/rule_resources.png": ("5. Run", "Other"),
}
# Words each of these items' captions (report/*.rst) must hold.
CAPTIONS = {
    f"{RUN}/report/seeds.html": "baseline and CLIMS side by side",
    f"{RUN}/report/rule_resources.png": "wall time and peak memory",
    f"{RUN}/report/training_curves.png": "loss terms per epoch",
}
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.fixture(scope="module")
def report(micro_run):
    workdir, config = micro_run
    path = workdir / RUN / "report.html"
    snakemake(workdir, config, "--report", str(path))
    return workdir, path


@pytest.mark.slow
def test_a_report_of_outdated_results_is_refused_naming_what_would_run(micro_run, tmp_path):
    workdir, config = micro_run[0], copy.deepcopy(micro_run[1])
    config["eval_cam"]["bg_threshold"] = 0.3  # the seed evaluations are now out of date
    path = tmp_path / "report.html"
    command = snakemake_command(workdir, config, "--report", str(path))
    result = subprocess.run(command, capture_output=True, text=True, timeout=600)
    text = result.stdout + result.stderr
    assert result.returncode != 0 and not path.exists(), text[-3000:]
    assert "not up to date" in text and "--report-after-run" in text
    assert re.search(r"^eval_cam\s+2$", text, re.M), text[-3000:]


def report_variable(text: str, name: str):
    """The JSON value Snakemake's report.html assigns to ``var <name>`` in its ``<script id="<name>">``."""
    match = re.search(rf'<script id="{name}">\s*var {name} = ', text)
    assert match, f"report.html has no {name} data"
    value, _ = json.JSONDecoder().raw_decode(text, match.end())
    return value


def relative(workdir: Path, path: str) -> str:
    """A path the report names, relative to the working directory."""
    return (Path(path).relative_to(workdir) if Path(path).is_absolute() else Path(path)).as_posix()


def item_places(workdir: Path, report_html: Path) -> dict[str, list[tuple[str, str]]]:
    """Each result of the report (path relative to the working directory) -> its (category, subcategory)s."""
    places = {}
    for category, subcategories in report_variable(report_html.read_text(), "categories").items():
        for subcategory, paths in subcategories.items():
            for path in paths:
                places.setdefault(relative(workdir, path), []).append((category, subcategory))
    return places


@pytest.mark.slow
def test_every_item_is_in_the_report_in_its_category(report):
    workdir, path = report
    places = item_places(workdir, path)
    for item, place in ITEMS.items():
        assert places.get(item) == [place], f"{item}: in {places.get(item)}, expected in {place}"
    # Nothing else sits in a category of its own: the rest are the preview pictures beside their contact sheets.
    others = {item: where for item, where in places.items() if item not in ITEMS}
    for item, where in others.items():
        labels = Path(item).parent.name.removesuffix("_preview")
        assert where == [("3. Refinement", labels)] and item.endswith(".png"), f"{item}: unexpected in {where}"
    captions = {relative(workdir, p): r["caption"] for p, r in report_variable(path.read_text(), "results").items()}
    assert set(captions) == set(places)
    for item, words in CAPTIONS.items():
        assert words in captions[item], f"{item}: caption without {words!r}"


class TableParser(HTMLParser):
    """The tables of a report page: caption -> rows of cell texts (the header row first), and its <p> notes."""

    def __init__(self):
        super().__init__()
        self.tables: dict[str, list[list[str]]] = {}
        self.notes: list[str] = []
        self.rows: list[list[str]] | None = None
        self.caption = self.text = None

    def handle_starttag(self, tag, attrs):
        if tag == "table":
            self.rows, self.caption = [], ""
        elif tag == "tr":
            self.rows.append([])
        elif tag in ("caption", "th", "td", "p"):
            self.text = ""

    def handle_data(self, data):
        if self.text is not None:
            self.text += data

    def handle_endtag(self, tag):
        if tag == "caption":
            self.caption = self.text
        elif tag in ("th", "td"):
            self.rows[-1].append(self.text)
        elif tag == "p":
            self.notes.append(self.text)
        elif tag == "table":
            assert self.caption not in self.tables, f"two tables captioned {self.caption!r}"
            self.tables[self.caption] = self.rows
        if tag in ("caption", "th", "td", "p"):
            self.text = None


def page_tables(path: Path) -> TableParser:
    parser = TableParser()
    parser.feed(path.read_text())
    parser.close()
    return parser


def read(path: Path):
    return json.loads(path.read_text())


def cell(value) -> str:
    """A JSON value as the report's tables write it: floats with two decimals, a dash for none."""
    if value is None:
        return "–"
    return f"{value:.2f}" if isinstance(value, float) else str(value)


def percent(value):
    return None if value is None else 100 * value


def assert_table(tables: dict, caption: str, columns: dict[str, dict[str, object]], first: str = "class") -> None:
    """The table ``caption`` has exactly the columns (name -> row label -> JSON value) given, each cell
    the value as the report writes it."""
    assert caption in tables, f"no table {caption!r} among {list(tables)}"
    header, *rows = tables[caption]
    assert header[0] == first and sorted(header[1:]) == sorted(columns), (caption, header)
    labels = [row[0] for row in rows]
    for name, values in columns.items():
        assert sorted(labels) == sorted(values), (caption, name, labels)
    for row in rows:
        for name, text in zip(header[1:], row[1:]):
            expected = cell(columns[name][row[0]])
            assert text == expected, f"{caption}: {row[0]}, {name}: {text} in the table, {expected} in the JSON"
        assert len(row) == len(header), (caption, row)


def score_column(scores: dict, measure: str = "IoU") -> dict[str, object]:
    """Row label -> value of one score set: per-class ``measure``, then the summaries."""
    return {**{name: c.get(measure) for name, c in scores["per_class"].items()}, **scores["summary"]}


def leak_column(leak: dict) -> dict[str, object]:
    return {**{name: percent(v) for name, v in leak["per_class"].items()}, "overall": percent(leak["overall"])}


LEAK = "cooccurring_background_labelled_as_object"


@pytest.mark.slow
def test_report_tables_hold_the_numbers_of_the_json_reports(report):
    workdir, _ = report
    run = workdir / RUN
    summary = read(run / "dataset" / "summary.json")
    page = page_tables(run / "report" / "dataset.html")
    splits = summary["splits"]
    columns = {
        "images": {s: info["images"] for s, info in splits.items()},
        "classes per image": {s: info["mean_classes_per_image"] for s, info in splits.items()},
    }
    columns["classes without images"] = {
        s: ", ".join(info["classes_without_images"]) or "–" for s, info in splits.items()
    }
    assert_table(page.tables, "Splits", columns, first="split")
    per_class = {
        s: {name: info["images_per_class"].get(name) for name in summary["classes"]} for s, info in splits.items()
    }
    assert_table(page.tables, "Images per class", per_class)
    checks = {path.stem: read(path) for path in sorted((run / "dataset" / "clip_classes").glob("*.json"))}
    assert sorted(checks) == ["clims"]  # the baseline reads no CLIP
    caption = "Does CLIP know the classes? AUROC of each seed source's CLIP probability against the image labels"
    auroc = {
        f"{source} ({check['clip_model']})": {name: c["auroc"] for name, c in check["classes"].items()}
        for source, check in checks.items()
    }
    assert_table(page.tables, caption, auroc)
    assert len(page.tables) == 3

    seeds = {path.stem: read(path) for path in sorted((run / "seeds").glob("*.json"))}
    assert sorted(seeds) == ["baseline", "clims"]
    page = page_tables(run / "report" / "seeds.html")
    split = {r["split"] for r in seeds.values()}.pop()
    columns, leaks = {}, {}
    for name, r in seeds.items():
        fixed, best = r["at_threshold"], r["best_of_sweep"]
        columns[f"{name} (threshold {fixed['threshold']})"] = score_column(fixed)
        columns[f"{name} (best, {best['threshold']})"] = score_column(best)
        leaks[f"{name} (fixed)"] = leak_column(r[LEAK]["at_threshold"])
        leaks[f"{name} (best)"] = leak_column(r[LEAK]["best_of_sweep"])
        for entry in r["power_background"]:
            columns[f"{name} ((1-max)^{entry['alpha']:g})"] = score_column(entry)
    assert_table(page.tables, f"CAM seeds of each source on {split}: IoU per class (%)", columns)
    assert_table(page.tables, "Co-occurring background labelled as the object (%)", leaks)
    assert len(page.tables) == 2

    evaluations = sorted(p for p in (run / "evaluation").glob("*.json") if p.stem != "segmenter")
    assert [p.stem for p in evaluations] == ["ir_labels", "pseudo_labels"]
    page = page_tables(run / "report" / "labels.html")
    count = 0
    for path in evaluations:
        for split, scores in read(path).items():
            caption = f"{path.stem} on {split}: {scores['images']} images, {scores['coverage']:.1%} of pixels labelled"
            assert_table(page.tables, caption, {path.stem: score_column(scores)})
            count += 1
            if LEAK in scores:
                caption = f"{path.stem} on {split}: co-occurring background as the object (%)"
                assert_table(page.tables, caption, {path.stem: leak_column(scores[LEAK])})
                count += 1
    assert len(page.tables) == count >= 2

    evaluation = read(run / "evaluation" / "segmenter.json")
    modes = evaluation["modes"]
    assert len(modes) >= 2
    page = page_tables(run / "report" / "segmenter.html")
    caption = f"Segmenter on {evaluation['split']} ({evaluation['images']} images): IoU per class (%) by test mode"
    assert_table(page.tables, caption, {mode: score_column(scores) for mode, scores in modes.items()})
    leaks = {mode: leak_column(scores[LEAK]) for mode, scores in modes.items() if LEAK in scores}
    if leaks:
        assert_table(page.tables, "Co-occurring background labelled as the object (%)", leaks)
    assert len(page.tables) == 1 + bool(leaks)
    assert page.notes == [f"backbone initialisation: {evaluation['backbone_init']}"]


@pytest.mark.slow
@pytest.mark.skipif(CHROMIUM is None, reason="Chromium is not installed (Debian package chromium; CI installs it)")
def test_report_and_its_tables_render_in_headless_chromium(report, tmp_path):
    workdir, path = report
    for page in (path, workdir / RUN / "report" / "seeds.html"):
        shot = tmp_path / f"{page.stem}.png"
        command = [
            CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
            "--disable-background-networking", "--disable-component-update", "--disable-sync",
            f"--user-data-dir={tmp_path / 'profile'}", "--window-size=1200,900", "--virtual-time-budget=5000",
            f"--screenshot={shot}", page.as_uri(),
        ]  # fmt: skip
        result = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
        assert result.returncode == 0, f"{page}: Chromium exited with {result.returncode}\n{result.stderr[-3000:]}"
        data = shot.read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 20_000, f"{page}: blank or missing screenshot"
        shutil.copy(shot, workdir / RUN / "report" / f"screenshot_{page.stem}.png")
