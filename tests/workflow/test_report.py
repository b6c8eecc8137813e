"""The HTML report of the micro run holds every item, and renders in a real browser."""

import shutil
import subprocess

import pytest
from workflow_helpers import snakemake

# Each report item with the category it must sit in.
ITEMS = {
    "dataset.html": "1. Data",
    "contact_sheet.png": "1. Data",
    "demo_clip.html": "1. Data",
    "seeds.html": "2. CAMs",
    "seed_sweep.png": "2. CAMs",
    "labels.html": "3. Refinement",
    "contact_sheet.png ": "3. Refinement",  # the previews' contact sheets (a second file of that name)
    "segmenter.html": "4. Segmentation",
    "training_curves.png": "5. Run",
    "rule_resources.png": "5. Run",
}
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.fixture(scope="module")
def report(micro_run):
    workdir, config = micro_run
    path = workdir / "results" / "micro" / "report.html"
    snakemake(workdir, config, "--report", str(path))
    return workdir, path


@pytest.mark.slow
def test_every_item_is_in_the_report(report):
    _, path = report
    text = path.read_text()
    for item, category in ITEMS.items():
        assert item.strip() in text, item
        assert category in text, category
    assert text.count("contact_sheet.png") >= 2  # the demo world's and the previews'
    for caption in ("baseline and CLIMS side by side", "wall time and peak memory", "loss terms per epoch"):
        assert caption in text, caption


@pytest.mark.slow
def test_report_tables_hold_the_measured_numbers(report):
    workdir, _ = report
    seeds = (workdir / "results" / "micro" / "report" / "seeds.html").read_text()
    assert "<table>" in seeds and "baseline" in seeds and "clims" in seeds and "mIoU" in seeds
    segmenter = (workdir / "results" / "micro" / "report" / "segmenter.html").read_text()
    assert segmenter.count("<th>") >= 4  # class column and one column per test mode


@pytest.mark.slow
@pytest.mark.skipif(CHROMIUM is None, reason="Chromium is not installed (Debian package chromium; CI installs it)")
def test_report_and_its_tables_render_in_headless_chromium(report, tmp_path):
    workdir, path = report
    for page in (path, workdir / "results" / "micro" / "report" / "seeds.html"):
        shot = tmp_path / f"{page.stem}.png"
        command = [
            CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
            "--disable-background-networking", "--disable-component-update", "--disable-sync",
            f"--user-data-dir={tmp_path / 'profile'}", "--window-size=1200,900", "--virtual-time-budget=5000",
            f"--screenshot={shot}", page.as_uri(),
        ]  # fmt: skip
        subprocess.run(command, capture_output=True, timeout=120, check=False)
        data = shot.read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 20_000, f"{page}: blank or missing screenshot"
        shutil.copy(shot, workdir / "results" / "micro" / "report" / f"screenshot_{page.stem}.png")
