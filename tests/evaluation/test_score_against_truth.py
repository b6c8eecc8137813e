"""tools/score_against_truth.py's report page: each run's figures, the folder run's gap to the annotated
one, and the reward's candidates against the masks."""

import re

from conftest import load_tool

score_against_truth = load_tool("score_against_truth")


def _row(run, labels, precision, seeds, pseudo, segmenter, choice=None):
    return {
        "run": run,
        "labels": labels,
        "label_precision": precision,
        "label_recall": 0.5,
        "seed_source": "clims",
        "seed_threshold": 0.15,
        "seed_miou": seeds,
        "seed_best_threshold": 0.45,
        "seed_best_miou": seeds + 5,
        "pseudo_label_miou": pseudo,
        "pseudo_label_coverage": 1.0,
        "segmenter_miou": segmenter,
        "refine_choice": choice,
    }


def _cells(page, figure):
    row = re.search(rf"<tr><td>{re.escape(figure)}</td>(.*?)</tr>", page).group(1)
    return re.findall(r"<td>(.*?)</td>", row)


def test_the_page_shows_each_run_and_the_first_run_s_gap_to_the_second(tmp_path):
    choice = {
        "chosen": {"bg_threshold": 0.3, "confidence": 0.0},
        "chosen_miou": 41.0,
        "mask_best": {"bg_threshold": 0.4, "confidence": 0.0},
        "mask_best_miou": 43.25,
        "candidates": [
            {"bg_threshold": 0.3, "confidence": 0.0, "wins": 9, "mIoU": 41.0},
            {"bg_threshold": 0.4, "confidence": 0.0, "wins": 8, "mIoU": 43.25},
        ],
    }
    rows = [
        _row("folder", "CLIP", 0.9263, 27.5, 41.0, 46.5, choice),
        _row("annotated", "annotations", 1.0, 32.0, 54.5, 60.75),
    ]
    score_against_truth.html_page(rows, "train", "val", "data/demo_world", tmp_path / "page.html")
    page = (tmp_path / "page.html").read_text()
    assert "folder − annotated" in page
    assert _cells(page, "label precision") == ["0.926", "1.000", "-0.074"]
    assert _cells(page, "pseudo-labels, mIoU") == ["41.00", "54.50", "-13.50"]
    assert _cells(page, "segmenter, mIoU") == ["46.50", "60.75", "-14.25"]
    assert "the reward chose bg_threshold 0.3, confidence 0 (41.00); the masks would pick bg_threshold 0.4" in page
    assert page.count("reward wins") == 1  # the annotated run chose nothing


def test_one_run_has_no_gap_column(tmp_path):
    score_against_truth.html_page(
        [_row("folder", "CLIP", 0.9, 27.0, 41.0, 46.0)], "train", "val", "t", tmp_path / "p.html"
    )
    page = (tmp_path / "p.html").read_text()
    assert _cells(page, "segmenter, mIoU") == ["46.00"] and "−" not in page
