"""Progress lines: one every tenth of the work, with the rate and the time left."""

import logging

from wsss.progress import Progress, track


def test_a_line_every_tenth_with_rate_and_time_left(caplog):
    with caplog.at_level(logging.INFO, logger="make_cam"):
        assert list(track(range(50), total=50, what="make_cam")) == list(range(50))
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 10
    assert lines[0].startswith("make_cam: 10% (5/50 images), ") and lines[-1].startswith(
        "make_cam: 100% (50/50 images)"
    )
    assert all(" images/s, " in line and line.endswith(" s left") for line in lines)


def test_large_steps_give_one_line_each_not_one_per_tenth_crossed(caplog):
    progress = Progress(total=10, what="train_cam", unit="iterations")
    with caplog.at_level(logging.INFO, logger="train_cam"):
        progress.advance(5)
        progress.advance(5)
    assert [r.getMessage().split(",")[0] for r in caplog.records] == [
        "train_cam: 50% (5/10 iterations)",
        "train_cam: 100% (10/10 iterations)",
    ]
