"""Atomic writes: results readable like normal files, nothing half-written, no leftovers kept."""

import os

import pytest

from wsss.io import atomic_directory, atomic_path, new_directory, write_text


@pytest.fixture
def umask_022():
    previous = os.umask(0o022)
    yield
    os.umask(previous)


def test_results_get_the_permissions_the_umask_gives(tmp_path, umask_022):
    write_text(tmp_path / "table.txt", "x")
    with atomic_directory(tmp_path / "labels") as folder:
        (folder / "a.png").write_bytes(b"png")
    assert (tmp_path / "table.txt").stat().st_mode & 0o777 == 0o644
    assert (tmp_path / "labels").stat().st_mode & 0o777 == 0o755


def test_a_failed_write_keeps_the_old_result(tmp_path):
    write_text(tmp_path / "table.txt", "old")
    with pytest.raises(RuntimeError), atomic_path(tmp_path / "table.txt") as tmp:
        tmp.write_text("half")
        raise RuntimeError("killed")
    assert (tmp_path / "table.txt").read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["table.txt"]


def test_leftovers_of_a_killed_run_are_removed_by_the_next_run(tmp_path):
    (tmp_path / ".labels.abc123.tmp").mkdir()  # what a SIGKILL inside atomic_directory leaves
    (tmp_path / ".labels.abc123.tmp" / "a.png").write_bytes(b"png")
    (tmp_path / ".labels.old").mkdir()
    (tmp_path / ".table.txt.xyz.tmp.txt").write_text("half")
    (tmp_path / ".other.abc.tmp").mkdir()  # another output's: not touched
    with atomic_directory(tmp_path / "labels") as folder:
        (folder / "b.png").write_bytes(b"png")
    write_text(tmp_path / "table.txt", "new")
    assert sorted(p.name for p in tmp_path.iterdir()) == [".other.abc.tmp", "labels", "table.txt"]


def test_a_new_directory_never_replaces_a_folder_filled_meanwhile(tmp_path):
    """Two runs into one new folder: the one finishing second fails, the first one's files are kept,
    and neither leaves its temporary folder behind. An empty folder is taken over."""
    output = tmp_path / "masks"
    with pytest.raises(FileExistsError, match="masks: appeared or was filled while this run wrote"):
        with new_directory(output) as first:
            (first / "first.png").write_bytes(b"1")
            with new_directory(output) as second:
                (second / "second.png").write_bytes(b"2")
    assert os.listdir(output) == ["second.png"]
    with pytest.raises(FileExistsError, match="masks: exists and is not an empty folder"):
        with new_directory(output):
            pass
    (output / "second.png").unlink()
    with new_directory(output) as third:
        (third / "third.png").write_bytes(b"3")
    assert os.listdir(output) == ["third.png"]
    assert sorted(os.listdir(tmp_path)) == ["masks"]
