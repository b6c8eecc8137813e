"""The folder-mode rehearsal's photos: real sizes, a PNG over max_side, and files prepare_folder leaves out."""

from wsss.data.folder_dataset import add_image, scan_folder
from wsss.rehearsal.photos import NOT_PHOTOS, PHOTOS, write_photo_folder


def test_the_folder_holds_three_usable_photos_and_two_files_that_are_not(tmp_path):
    assert write_photo_folder(tmp_path / "photos", num_classes=20) == [name for name, _, _ in PHOTOS]
    candidates, skipped = scan_folder(tmp_path / "photos")
    (tmp_path / "out").mkdir()
    added = {image.source.name: add_image(image, tmp_path / "out", max_side=1000) for image in candidates}
    assert {entry.name for entry in skipped} == {"notes.txt"} and set(NOT_PHOTOS) == {"notes.txt", "cut short.jpg"}
    assert added["cut short.jpg"][0] is None
    assert added["harbour.jpg"] == ((375, 500), "linked") and added["street view.jpg"][0] == (500, 333)
    size, how = added["scan 1.png"]
    assert size == (750, 1000) and how == "scaled from 1280x960"
