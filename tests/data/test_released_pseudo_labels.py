"""The reference's pseudo-label masks: checked against their images and written as this project's label folder."""

import numpy as np
import pytest
from conftest import load_stage
from PIL import Image
from released_helpers import write_reference_mask, write_tiny_release

from wsss.data.label_folder import read_label_folder_png
from wsss.errors import DatasetError


@pytest.fixture
def tiny(tmp_path):
    """A tiny VOC root, its manifest and the reference's masks for it: (root, manifest, masks, ids)."""
    root, manifest, _, masks, ids = write_tiny_release(tmp_path)
    return root, manifest, masks, ids


def run(tiny, labels):
    root, manifest, masks, _ = tiny
    load_stage("import_pseudo_labels").import_pseudo_labels(
        str(root), str(manifest), str(masks), str(labels), ["train"]
    )


def test_the_references_masks_become_palette_pngs_of_the_same_values_with_a_readme(tiny, tmp_path):
    _, _, masks, ids = tiny
    assert Image.open(masks / f"{ids[0]}.png").mode == "L"  # imageio's greyscale, as the reference writes
    run(tiny, tmp_path / "labels")
    assert sorted(p.name for p in (tmp_path / "labels").iterdir()) == [*(f"{i}.png" for i in ids), "README.txt"]
    for image_id in ids:
        assert Image.open(tmp_path / "labels" / f"{image_id}.png").mode == "P"
        np.testing.assert_array_equal(
            read_label_folder_png(tmp_path / "labels", image_id, (20, 30)),
            np.asarray(Image.open(masks / f"{image_id}.png")),
        )
    readme = (tmp_path / "labels" / "README.txt").read_text()
    assert "the reference's released masks" in readme and "    2  diningtable" in readme and "255" not in readme


def test_unsure_pixels_are_kept_and_the_readme_says_so(tiny, tmp_path):
    _, _, masks, ids = tiny
    mask = np.asarray(Image.open(masks / f"{ids[0]}.png")).copy()
    mask[0, :4] = 255
    write_reference_mask(masks / f"{ids[0]}.png", mask)
    run(tiny, tmp_path / "labels")
    assert (read_label_folder_png(tmp_path / "labels", ids[0])[0, :4] == 255).all()
    assert "255  unsure" in (tmp_path / "labels" / "README.txt").read_text()


@pytest.mark.parametrize(
    "edit, message",
    [
        (lambda mask: mask[:, :29], r"mask is 29x20, its image 30x20"),
        (lambda mask: np.where(mask > 0, 7, mask), r"values \[7\] are no label values of the 2 classes"),
        (lambda mask: np.where(mask > 0, 2, mask), r"classes \[1\] \(0-based\) are not among the image's labels \[0\]"),
    ],
    ids=["other_size", "value_outside_the_classes", "class_the_image_lacks"],
)
def test_a_mask_that_does_not_fit_its_image_is_named_and_nothing_is_written(tiny, tmp_path, edit, message):
    _, _, masks, ids = tiny
    write_reference_mask(masks / f"{ids[0]}.png", edit(np.asarray(Image.open(masks / f"{ids[0]}.png"))))
    with pytest.raises(DatasetError, match=rf"{ids[0]}\.png: {message}"):
        run(tiny, tmp_path / "labels")
    assert not (tmp_path / "labels").exists()


def test_an_unreadable_or_missing_mask_is_named(tiny, tmp_path):
    _, _, masks, ids = tiny
    (masks / f"{ids[1]}.png").write_bytes(b"\x89PNG\r\n\x1a\n broken")
    with pytest.raises(DatasetError, match=rf"{ids[1]}\.png: cannot read label map"):
        run(tiny, tmp_path / "labels")
    (masks / f"{ids[1]}.png").unlink()
    with pytest.raises(
        DatasetError, match=rf"masks: 1 of the 3 images of train have no file <id>\.png here \({ids[1]}\)"
    ):
        run(tiny, tmp_path / "labels")
