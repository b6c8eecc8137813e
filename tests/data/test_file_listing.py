"""Dataset listings: an edit inside the dataset changes exactly the listings of what it touched."""

import os
import shutil

from conftest import REPO

from wsss.data.file_listing import PARTS, describe_changes, listing_path, listing_text, refresh_listing

MANIFEST = str(REPO / "data_manifest" / "demo.yaml")  # VOC layout: JPEGImages, Annotations, SegmentationClass


def write_listings(root, folder) -> dict[str, str]:
    listings = {}
    for part in PARTS:
        path = listing_path(str(folder), "train", part)
        os.makedirs(folder, exist_ok=True)
        with open(path, "w") as file:
            file.write(listing_text(root, MANIFEST, "train", part))
        listings[part] = path
    return listings


def refresh_all(root, listings) -> dict[str, str]:
    return {part: refresh_listing(path, root, MANIFEST, "train", part) for part, path in listings.items()}


def test_an_untouched_dataset_rewrites_no_listing(tiny_voc, tmp_path):
    root, ids = tiny_voc
    listings = write_listings(root, tmp_path / "files")
    times = {part: os.stat(path).st_mtime_ns for part, path in listings.items()}
    assert refresh_all(root, listings) == {"images": "", "labels": "", "masks": ""}
    assert {part: os.stat(path).st_mtime_ns for part, path in listings.items()} == times
    assert f"JPEGImages/{ids[0]}.jpg\t" in open(listings["images"]).read()


def test_a_replaced_image_changes_only_the_image_listing(tiny_voc, tmp_path):
    root, ids = tiny_voc
    listings = write_listings(root, tmp_path / "files")
    image = root / "JPEGImages" / f"{ids[1]}.jpg"
    shutil.copyfile(root / "JPEGImages" / f"{ids[0]}.jpg", image)
    os.utime(image, ns=(1, 1))  # even a copy that keeps an old time stamp differs in its time
    changes = refresh_all(root, listings)
    assert changes["images"] == f"train.images.tsv: 1 changed (first: JPEGImages/{ids[1]}.jpg)"
    assert changes["labels"] == changes["masks"] == ""
    assert refresh_all(root, listings)["images"] == ""  # rewritten: the next parse sees no change


def test_an_edited_annotation_changes_the_labels_and_a_mask_the_masks(tiny_voc, tmp_path):
    root, ids = tiny_voc
    listings = write_listings(root, tmp_path / "files")
    annotation = root / "Annotations" / f"{ids[2]}.xml"
    annotation.write_text(annotation.read_text().replace("<name>cat</name>", "<name>diningtable</name>"))
    mask = root / "SegmentationClass" / f"{ids[0]}.png"
    mask.unlink()
    changes = refresh_all(root, listings)
    assert changes == {
        "images": "",
        "labels": f"train.labels.tsv: 1 changed (first: Annotations/{ids[2]}.xml)",
        "masks": f"train.masks.tsv: 1 changed (first: SegmentationClass/{ids[0]}.png)",
    }
    assert f"SegmentationClass/{ids[0]}.png\tmissing" in open(listings["masks"]).read()


def test_an_id_dropped_from_the_split_changes_every_listing_of_the_split(tiny_voc, tmp_path):
    root, ids = tiny_voc
    listings = write_listings(root, tmp_path / "files")
    (root / "ImageSets" / "Segmentation" / "train.txt").write_text("\n".join(ids[:2]) + "\n")
    changes = refresh_all(root, listings)
    assert changes["images"] == (
        "train.images.tsv: 1 changed (first: ImageSets/Segmentation/train.txt), "
        f"1 removed (first: JPEGImages/{ids[2]}.jpg)"
    )
    assert "1 removed" in changes["labels"] and "1 removed" in changes["masks"]


def test_an_unreadable_split_file_is_a_change_the_stages_then_report(tiny_voc, tmp_path):
    root, ids = tiny_voc
    listings = write_listings(root, tmp_path / "files")
    (root / "ImageSets" / "Segmentation" / "train.txt").write_text("an id with spaces\n")
    assert refresh_all(root, listings)["images"].startswith("train.images.tsv: 1 changed")
    assert "# unreadable: " in open(listings["images"]).read() and "holds whitespace" in open(listings["images"]).read()


def test_no_listing_is_written_before_the_dataset_or_the_first_listing_exists(tmp_path):
    path = tmp_path / "files" / "train.images.tsv"
    assert refresh_listing(path, tmp_path / "not_made_yet", MANIFEST, "train", "images") == ""
    assert not path.exists()


def test_describe_changes_counts_added_files():
    before = "# header\nA\t1\t1\n"
    after = "# header\nA\t1\t1\nB\t2\t2\nC\t3\t3\n"
    assert describe_changes(before, after) == "2 added (first: B)"
