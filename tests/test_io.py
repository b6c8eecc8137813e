"""Atomic writes: results readable like normal files, nothing half-written, no leftovers kept."""

import errno
import os
import re
import shutil

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


def _torch_writer_failed(tmp):
    tmp.write_bytes(b"PK\x03\x04 half a checkpoint")
    raise RuntimeError(
        "[enforce fail at inline_container.cc:778] . PytorchStreamWriter failed writing file data/0: file write failed"
    )


def _torch_iostream_error(tmp):
    tmp.write_bytes(b"PK\x03\x04 half a checkpoint")
    raise RuntimeError("basic_ios::clear: iostream error")


def _no_space_left(tmp):
    with open(tmp, "wb") as handle:
        handle.write(b"half")
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


@pytest.mark.parametrize("write", [_torch_writer_failed, _torch_iostream_error, _no_space_left])
def test_a_full_disk_is_named_with_the_path_and_the_free_space(tmp_path, monkeypatch, write):
    """torch.save on a full disk says 'file write failed' or 'basic_ios::clear: iostream error' and
    nothing of space; the error names the file and the free space of its filesystem."""
    path = tmp_path / "run" / "cam.pt"
    write_text(path, "old checkpoint")
    usage = shutil.disk_usage(tmp_path)._replace(free=3 * 2**20 // 2)
    monkeypatch.setattr(shutil, "disk_usage", lambda where: usage)
    with pytest.raises(OSError) as caught, atomic_path(path) as tmp:
        write(tmp)
    message = str(caught.value)
    assert str(path) in message and "1.5 MiB free" in message and "space" in message, message
    assert path.read_text() == "old checkpoint"
    assert sorted(p.name for p in path.parent.iterdir()) == ["cam.pt"]


def test_a_checkpoint_on_a_full_disk_is_named(tmp_path, monkeypatch):
    """The same through save_model, the way train_cam saves its network."""
    import torch

    from wsss.checkpoints import save_model

    path = tmp_path / "cam.pt"
    save_model(path, torch.nn.Linear(2, 2), {"epoch": 1})
    before = path.read_bytes()
    monkeypatch.setattr(torch, "save", lambda obj, tmp: _torch_iostream_error(tmp))
    with pytest.raises(OSError, match=rf"writing {re.escape(str(path))} failed: .* free of .* on its filesystem"):
        save_model(path, torch.nn.Linear(2, 2), {"epoch": 2})
    assert path.read_bytes() == before and sorted(p.name for p in tmp_path.iterdir()) == ["cam.pt"]


def test_a_full_disk_while_writing_a_folder_is_named(tmp_path):
    path = tmp_path / "cams"
    with atomic_directory(path) as folder:
        (folder / "a.npz").write_bytes(b"old")
    with pytest.raises(OSError, match=rf"writing {re.escape(str(path))} failed: no space left .* free of "):
        with atomic_directory(path) as folder:
            (folder / "a.npz").write_bytes(b"ha")
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(folder / "a.npz"))
    assert (path / "a.npz").read_bytes() == b"old" and sorted(p.name for p in tmp_path.iterdir()) == ["cams"]
