"""The VOC-layout reader: labels, conversions, and a clear error for every kind of bad input."""

import numpy as np
import pytest
from conftest import tiny_manifest, write_turned_jpeg
from PIL import Image

from wsss.data.cam_io import CamRecord, save_cam
from wsss.data.images import batches_by_image_size, image_size, read_label_map, read_rgb
from wsss.data.voc_dataset import VOCDataset, spread_sample
from wsss.errors import ConfigError, DatasetError
from wsss.io import save_label_png
from wsss.refine.cam_to_labels import CamLabelJob, write_crf_pseudo_labels
from wsss.refine.crf import CRFParams


def test_reads_ids_images_masks_and_labels(tiny_voc):
    root, ids = tiny_voc
    dataset = VOCDataset(root, tiny_manifest(), "train")
    assert dataset.ids == ids
    image = dataset.read_image(ids[0])
    assert image.shape == (20, 30, 3) and image.dtype == np.uint8
    mask = dataset.read_mask(ids[1])
    assert mask.shape == (20, 30) and set(np.unique(mask)) == {0, 2, 255}
    assert dataset.label_matrix().tolist() == [[True, False], [False, True], [True, False]]
    assert dataset.has_masks()


def test_labels_from_masks_equal_labels_from_annotations(tiny_voc):
    root, _ = tiny_voc
    from_xml = VOCDataset(root, tiny_manifest(), "train").label_matrix()
    from_masks = VOCDataset(root, tiny_manifest(labels_from="masks"), "train").label_matrix()
    np.testing.assert_array_equal(from_xml, from_masks)


def test_manifest_prompts_use_clip_texts():
    manifest = tiny_manifest()
    assert manifest.class_prompts() == ["a photo of cat.", "a photo of dining table."]
    assert manifest.background_texts() == ["a photo of floor."]


@pytest.mark.parametrize(
    "mode, make",
    [
        ("L", lambda: Image.fromarray(np.full((8, 9), 77, np.uint8))),
        ("RGBA", lambda: Image.fromarray(np.full((8, 9, 4), 77, np.uint8))),
        ("P", lambda: Image.fromarray(np.full((8, 9, 3), 77, np.uint8)).convert("P", palette=Image.Palette.ADAPTIVE)),
        ("I;16", lambda: Image.fromarray(np.full((8, 9), 77 * 257, np.uint16))),
    ],
)
def test_images_of_any_mode_become_rgb_uint8(tmp_path, mode, make):
    path = tmp_path / "image.png"
    image = make()
    assert image.mode == mode
    image.save(path)
    rgb = read_rgb(path)
    assert rgb.shape == (8, 9, 3) and rgb.dtype == np.uint8
    assert np.all(np.abs(rgb.astype(int) - 77) <= 1)


def test_sixteen_bit_grayscale_mask_is_read(tmp_path):
    path = tmp_path / "mask.png"
    Image.fromarray(np.array([[0, 1], [255, 2]], np.uint16)).save(path)
    np.testing.assert_array_equal(read_label_map(path), [[0, 1], [255, 2]])


def expect_error(match, root, manifest=None, split="train", action=None):
    with pytest.raises(DatasetError, match=match):
        dataset = VOCDataset(root, manifest or tiny_manifest(), split)
        if action is not None:
            action(dataset)


def test_missing_image_names_the_file(tiny_voc):
    root, ids = tiny_voc
    (root / "JPEGImages" / f"{ids[1]}.jpg").unlink()
    expect_error(rf"image file\(s\) of split 'train' are missing: .*{ids[1]}\.jpg", root)


def test_unreadable_image_names_the_file(tiny_voc):
    root, ids = tiny_voc
    (root / "JPEGImages" / f"{ids[0]}.jpg").write_bytes(b"this is not a jpeg")
    expect_error(rf"{ids[0]}\.jpg: cannot read image", root, action=lambda d: d.read_image(ids[0]))


def test_truncated_image_names_the_file(tiny_voc):
    root, ids = tiny_voc
    path = root / "JPEGImages" / f"{ids[0]}.jpg"
    path.write_bytes(path.read_bytes()[: len(path.read_bytes()) // 2])
    expect_error(rf"{ids[0]}\.jpg: cannot read image .*[Tt]runcated", root, action=lambda d: d.read_image(ids[0]))


def test_unknown_class_name_names_the_annotation(tiny_voc):
    root, ids = tiny_voc
    xml = root / "Annotations" / f"{ids[2]}.xml"
    xml.write_text(xml.read_text().replace("<name>cat</name>", "<name>unicorn</name>"))
    expect_error(rf"{ids[2]}\.xml: unknown class name 'unicorn'", root, action=lambda d: d.label_matrix())


def test_broken_annotation_xml(tiny_voc):
    root, ids = tiny_voc
    (root / "Annotations" / f"{ids[0]}.xml").write_text("<annotation><object>")
    expect_error(rf"{ids[0]}\.xml: not valid XML", root, action=lambda d: d.label_matrix())


def test_empty_split(tiny_voc):
    root, _ = tiny_voc
    (root / "ImageSets" / "Segmentation" / "empty.txt").write_text("\n\n")
    expect_error(r"empty\.txt: split file lists no image ids", root, split="empty")


def test_missing_split_file(tiny_voc):
    root, _ = tiny_voc
    expect_error(r"nosuch\.txt: split file is missing", root, split="nosuch")


def test_duplicate_ids(tiny_voc):
    root, ids = tiny_voc
    (root / "ImageSets" / "Segmentation" / "dup.txt").write_text(f"{ids[0]}\n{ids[1]}\n{ids[0]}\n")
    expect_error(rf"dup\.txt:3: duplicate image id '{ids[0]}' \(first on line 1\)", root, split="dup")


def test_an_id_with_a_space_is_refused_by_name_not_cut_at_the_space(tiny_voc):
    """An id with whitespace is refused where the split file is read, rather than cut into '2007' (as
    before) and reported as a missing '2007.jpg'. The project's, VOC's and SBD's split files hold one
    column (ImageSets/Main's two-column class files are never read)."""
    root, ids = tiny_voc
    (root / "ImageSets" / "Segmentation" / "spaced.txt").write_text(f"{ids[0]}\n2007 000032\n")
    expect_error(
        r"spaced\.txt:2: image id '2007 000032' holds whitespace: one id per line, without spaces",
        root,
        split="spaced",
    )


@pytest.mark.parametrize("bad_id", ["../secret", "sub/2007_000000", "a\\b", "..", ".hidden"])
def test_ids_with_path_separators_or_dotdot(tiny_voc, bad_id):
    root, _ = tiny_voc
    (root / "ImageSets" / "Segmentation" / "bad.txt").write_text(f"{bad_id}\n")
    expect_error(r"bad\.txt:1: image id .* must not contain path separators or '\.\.'", root, split="bad")


def test_mask_size_differs_from_image(tiny_voc):
    root, ids = tiny_voc
    Image.fromarray(np.zeros((10, 10), np.uint8)).save(root / "SegmentationClass" / f"{ids[0]}.png")
    expect_error(rf"{ids[0]}\.png: mask is 10x10 but its image is 30x20", root, action=lambda d: d.read_mask(ids[0]))


def test_mask_with_unknown_label_value(tiny_voc):
    root, ids = tiny_voc
    Image.fromarray(np.full((20, 30), 7, np.uint8)).save(root / "SegmentationClass" / f"{ids[0]}.png")
    expect_error(rf"{ids[0]}\.png: label value 7 is not a class", root, action=lambda d: d.read_mask(ids[0]))


def test_rgb_mask_is_rejected(tiny_voc):
    root, ids = tiny_voc
    Image.fromarray(np.zeros((20, 30, 3), np.uint8)).save(root / "SegmentationClass" / f"{ids[0]}.png")
    expect_error(
        r"must be a single-channel palette or grayscale PNG, got mode RGB", root, action=lambda d: d.read_mask(ids[0])
    )


def test_image_without_any_label(tiny_voc):
    root, ids = tiny_voc
    from wsss.data.voc_writer import write_annotation

    write_annotation(root / "Annotations" / f"{ids[1]}.xml", "x.jpg", (20, 30), [])
    expect_error(r"have no class label in Annotations/, e\.g\. 2007_000001", root, action=lambda d: d.label_matrix())


def test_missing_root(tmp_path):
    expect_error(r"dataset root folder does not exist", tmp_path / "nowhere")


def test_bad_manifests():
    with pytest.raises(ConfigError, match="class names listed twice: cat"):
        tiny_manifest(classes=["cat", "cat"])
    with pytest.raises(ConfigError, match="'background' is label 0"):
        tiny_manifest(classes=["background", "cat"])
    with pytest.raises(ConfigError, match=r"labels_from: 'boxes' is not one of"):
        tiny_manifest(labels_from="boxes")
    for template in ("no placeholder", "a {} next to a {}.", "a photo of {name}.", "a {0} photo."):
        with pytest.raises(ConfigError, match="tiny manifest: invalid configuration\n  - prompt_template"):
            tiny_manifest(prompt_template=template)
    assert tiny_manifest(prompt_template="an image of a {}, cropped").class_prompts()[0] == "an image of a cat, cropped"


@pytest.mark.parametrize("orientation", [6, 8])
def test_a_turned_jpeg_is_read_as_displayed_by_every_reader(tiny_voc, tmp_path, orientation):
    """Images are read turned by their EXIF orientation (height and width swapped here), by the
    dataset, the header-only size that batches make_cam, the CRF / IR-label jobs and the masks' check."""
    root, ids = tiny_voc  # 20x30 (H x W) images, masks and annotations
    rng = np.random.default_rng(1)
    displayed = rng.integers(0, 255, (30, 20, 3), dtype=np.uint8)  # a portrait photo stored as landscape
    shown = write_turned_jpeg(root / "JPEGImages" / f"{ids[0]}.jpg", displayed, orientation)
    assert Image.open(root / "JPEGImages" / f"{ids[0]}.jpg").size == (30, 20)  # stored landscape
    mask = np.zeros((30, 20), np.uint8)
    mask[5:25, 5:15] = 1
    save_label_png(root / "SegmentationClass" / f"{ids[0]}.png", mask)  # drawn on the photo as displayed

    dataset = VOCDataset(root, tiny_manifest(), "train")
    np.testing.assert_array_equal(read_rgb(dataset.image_path(ids[0])), shown)
    np.testing.assert_array_equal(dataset.read_image(ids[0]), shown)
    assert image_size(dataset.image_path(ids[0])) == (30, 20)
    np.testing.assert_array_equal(dataset.read_mask(ids[0]), mask)

    Image.fromarray(np.zeros((30, 20, 3), np.uint8)).save(root / "JPEGImages" / f"{ids[1]}.jpg")  # portrait, no tag
    batches = batches_by_image_size(dataset.ids, dataset.image_path, 4)
    assert sorted(map(sorted, batches)) == [sorted(ids[:2]), [ids[2]]]

    cams = tmp_path / "cams"
    cam = np.zeros((1, 30, 20), np.float16)
    cam[0, 5:25, 5:15] = 1.0
    save_cam(cams, ids[0], CamRecord(np.array([0]), cam, cam[:, ::4, ::4].copy()))
    job = CamLabelJob(ids[0], str(dataset.image_path(ids[0])), (0,), str(cams), str(tmp_path / "labels"))
    write_crf_pseudo_labels(job, CRFParams(), bg_threshold=0.5)
    assert read_label_map(tmp_path / "labels" / f"{ids[0]}.png").shape == (30, 20)

    save_label_png(root / "SegmentationClass" / f"{ids[0]}.png", np.zeros((20, 30), np.uint8))  # drawn as stored
    expect_error(
        rf"{ids[0]}\.png: mask is 30x20 but its image is 20x30 \(images are read turned by their EXIF orientation\)",
        root,
        action=lambda d: d.read_mask(ids[0]),
    )


def test_a_spread_sample_takes_exactly_as_many_from_first_to_last():
    assert spread_sample(list(range(11)), 5) == [0, 2, 5, 8, 10]
    assert spread_sample(range(11), 11) == list(range(11)) and spread_sample("abc", 9) == ["a", "b", "c"]
    assert spread_sample(list(range(100)), 7) == sorted(set(spread_sample(list(range(100)), 7)))
    assert len(spread_sample(list(range(1000)), 999)) == 999
