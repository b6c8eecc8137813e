"""Folder mode's dataset: which files of a folder of photos become images (and why the others do not),
how each is added, the tables the user opens, and the dataset section the config derives from it."""

import os

import numpy as np
import pytest
from conftest import write_turned_jpeg
from PIL import Image

from wsss.config import validate_config
from wsss.data.folder_dataset import (
    MIN_SIDE,
    FolderImage,
    Skipped,
    add_image,
    image_id_for,
    read_label_table,
    scan_folder,
    write_folder_tables,
)
from wsss.data.images import read_rgb
from wsss.data.manifest import folder_manifest
from wsss.errors import ConfigError, DatasetError


def _photo(path, size=(40, 60), fmt=None, seed=0):
    rgb = np.random.default_rng(seed).integers(0, 255, size=(*size, 3), dtype=np.uint8)
    Image.fromarray(rgb).save(path, format=fmt)
    return rgb


def test_ids_keep_letters_digits_and_dots_and_replace_the_rest():
    assert image_id_for("IMG 001 (copy)") == "IMG_001_copy_"
    assert image_id_for("2007_000032") == "2007_000032"
    assert image_id_for("été.v2") == "_t_.v2"
    assert image_id_for("..x") == "x"


def test_scan_reads_image_files_directly_in_the_folder_and_names_each_entry_left_out(tmp_path):
    for name in ("b.jpg", "a.PNG", "a.jpeg", "c d.jpg", "c_d.png", "notes.txt", ".hidden.jpg"):
        (tmp_path / name).write_bytes(b"x")
    (tmp_path / "more").mkdir()
    images, skipped = scan_folder(tmp_path)
    assert [(i.image_id, i.source.name) for i in images] == [("a", "a.PNG"), ("b", "b.jpg"), ("c_d", "c d.jpg")]
    reasons = {entry.name: entry.reason for entry in skipped}
    assert reasons[".hidden.jpg"] == "hidden file"
    assert "only the images directly in folder.images" in reasons["more"]
    assert reasons["notes.txt"].startswith("not an image suffix")
    assert "'a' is that of a.PNG" in reasons["a.jpeg"] and "'c_d' is that of c d.jpg" in reasons["c_d.png"]


def test_scan_of_a_missing_folder_names_it(tmp_path):
    with pytest.raises(DatasetError, match="nowhere: folder.images is not a folder"):
        scan_folder(tmp_path / "nowhere")


def test_a_jpeg_is_linked_other_formats_are_written_as_jpeg_and_large_photos_scaled(tmp_path):
    source, out = tmp_path / "in", tmp_path / "out"
    source.mkdir(), out.mkdir()
    _photo(source / "a.jpg")
    png = _photo(source / "b.png")
    _photo(source / "c.jpg", size=(300, 200))
    results = [
        add_image(FolderImage(name, source / f"{name}.{suffix}"), out, 100)
        for name, suffix in (("a", "jpg"), ("b", "png"), ("c", "jpg"))
    ]
    assert results == [((40, 60), "linked"), ((40, 60), "written as JPEG"), ((100, 67), "scaled from 200x300")]
    assert (out / "a.jpg").read_bytes() == (source / "a.jpg").read_bytes()
    assert np.abs(read_rgb(out / "b.jpg").astype(int) - png).mean() < 4  # JPEG at quality 95
    assert read_rgb(out / "c.jpg").shape == (100, 67, 3)
    assert sorted(os.listdir(out)) == ["a.jpg", "b.jpg", "c.jpg"]


def test_a_turned_jpeg_is_added_as_it_is_displayed(tmp_path):
    displayed = np.random.default_rng(1).integers(0, 255, size=(30, 50, 3), dtype=np.uint8)
    write_turned_jpeg(tmp_path / "t.jpg", displayed, 6)
    (tmp_path / "out").mkdir()
    size, how = add_image(FolderImage("t", tmp_path / "t.jpg"), tmp_path / "out", 1000)
    assert size == (30, 50) and how == "linked"
    assert read_rgb(tmp_path / "out" / "t.jpg").shape == (30, 50, 3)


def test_unreadable_and_tiny_photos_are_refused_with_the_reason_and_nothing_written(tmp_path):
    (tmp_path / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not a jpeg")
    _photo(tmp_path / "tiny.png", size=(MIN_SIDE - 1, 40))
    (tmp_path / "out").mkdir()
    broken = add_image(FolderImage("broken", tmp_path / "broken.jpg"), tmp_path / "out", 1000)
    tiny = add_image(FolderImage("tiny", tmp_path / "tiny.png"), tmp_path / "out", 1000)
    assert broken[0] is None and broken[1].startswith("cannot read image")
    assert tiny == (None, f"40x{MIN_SIDE - 1} is smaller than {MIN_SIDE} px a side")
    assert not os.listdir(tmp_path / "out")


def test_tables_hold_each_photo_s_classes_and_probabilities_and_each_file_left_out(tmp_path):
    kept = [
        (FolderImage("a", tmp_path / "a.jpg"), (40, 60), "linked"),
        (FolderImage("b", tmp_path / "b\tc.png"), (5, 6), "written as JPEG"),
    ]
    probabilities = np.array([[0.7, 0.2], [0.1, 0.05]])
    present = np.array([[True, False], [False, False]])
    write_folder_tables(tmp_path, kept, probabilities, present, ("cat", "dog"), [Skipped("x\ty.txt", "not an image")])
    lines = (tmp_path / "image_labels.tsv").read_text().splitlines()
    assert lines[0].split("\t") == ["id", "file", "width", "height", "added", "classes", "p_cat", "p_dog"]
    assert lines[1].split("\t") == ["a", "a.jpg", "60", "40", "linked", "cat", "0.7000", "0.2000"]
    assert lines[2].split("\t")[:2] == ["b", "b c.png"] and lines[2].split("\t")[5] == "-"
    assert (tmp_path / "skipped.tsv").read_text() == "file\treason\nx y.txt\tnot an image\n"
    ids, read_back = read_label_table(tmp_path / "image_labels.tsv", ("dog", "cat"))
    assert ids == ["a", "b"] and read_back.tolist() == [[0.2, 0.7], [0.05, 0.1]]
    with pytest.raises(DatasetError, match=r"image_labels.tsv: no probability column for cow"):
        read_label_table(tmp_path / "image_labels.tsv", ("cat", "cow"))


def test_a_folder_makes_the_dataset_section_one_split_under_the_run(tmp_path):
    config = validate_config(
        {"run_name": "mine", "folder": {"images": "photos", "classes": ["cat", {"name": "dog", "text": "dog,puppy"}]}},
        "f.yaml",
    )
    assert config["dataset"] == {
        "root": "results/mine/dataset/prepared",
        "manifest": "results/mine/dataset/manifest.yaml",
        "demo_world": False,
        "train_split": "train",
        "seed_eval_split": "train",
        "eval_split": "train",
    }


@pytest.mark.parametrize(
    ("folder", "message"),
    [
        ({"images": "photos"}, "f.yaml: folder.images is photos but folder.classes lists no class"),
        ({"classes": ["cat"]}, "f.yaml: folder.classes is set but folder.images is not"),
        ({"images": "photos", "classes": ["cat", "dog", "cat"]}, "f.yaml: folder: class names listed twice: cat"),
        ({"images": "photos", "classes": ["background"]}, "'background' is label 0"),
    ],
)
def test_folder_settings_that_cannot_make_a_dataset_are_refused_by_name(folder, message):
    """The config's own checks, then the folder's classes as the manifest the workflow checks before any job."""
    with pytest.raises(ConfigError, match=message.replace("(", r"\(")):
        folder_manifest(validate_config({"folder": folder}, "f.yaml")["folder"], "f.yaml")
