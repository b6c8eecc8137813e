"""The reference's CAM files: read without running their pickles, checked against their images and
converted into this project's CAM files."""

import collections
import os
import pickle

import numpy as np
import pytest
import torch
from conftest import CodePayload, load_stage
from numpy.lib import format as npy_format
from released_helpers import write_reference_cam, write_tiny_release

from wsss.data.cam_io import load_cam
from wsss.data.manifest import DatasetManifest
from wsss.data.released_cam_files import LAYOUTS, convert_reference_cam, read_reference_cam
from wsss.data.released_folders import ReleasedImage, released_images
from wsss.errors import DatasetError

IRN, CAMERA_READY = LAYOUTS


@pytest.mark.parametrize("camera_ready", [False, True], ids=["make_cam", "camera_ready"])
def test_a_file_written_as_the_reference_writes_it_reads_back_exactly(tmp_path, camera_ready):
    path = tmp_path / "2007_000032.npy"
    strided, high_res = write_reference_cam(path, [0, 14], (17, 29), camera_ready=camera_ready)
    cam = read_reference_cam(path)
    assert cam.layout == (CAMERA_READY if camera_ready else IRN)
    assert cam.keys.tolist() == [0, 14]  # 0-based classes in both layouts
    np.testing.assert_array_equal(cam.cam, strided)
    np.testing.assert_array_equal(cam.high_res, high_res)
    assert cam.cam.shape == (2, 5, 8) and cam.high_res.shape == (2, 17, 29)


def test_a_file_pickled_by_numpy_1_under_protocol_3_reads(tmp_path):
    """numpy 1 names its reconstructor numpy.core.multiarray._reconstruct and np.save pickled with protocol 3."""
    content = {"keys": torch.tensor([3]), "cam": torch.ones(1, 2, 2), "high_res": np.ones((1, 5, 5), np.float32)}
    data = pickle.dumps(np.asanyarray(content), protocol=3)
    assert b"numpy._core.multiarray\n_reconstruct" in data
    path = tmp_path / "old.npy"
    with open(path, "wb") as handle:
        npy_format.write_array_header_1_0(handle, {"descr": "|O", "fortran_order": False, "shape": ()})
        handle.write(data.replace(b"numpy._core.multiarray\n", b"numpy.core.multiarray\n"))
    cam = read_reference_cam(path)
    assert cam.keys.tolist() == [3] and cam.high_res.shape == (1, 5, 5)


class SystemPayload:
    """Unpickling this runs a shell command that creates ``marker``."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


class StoragePayload:
    """A 'pickled torch storage' whose nested bytes are a pickle that runs code."""

    def __init__(self, inner):
        self.inner = inner

    def __reduce__(self):
        return (torch.storage._load_from_bytes, (pickle.dumps(self.inner, protocol=2),))


@pytest.mark.parametrize(
    "payload, refused",
    [
        (lambda marker: SystemPayload(marker), r"global (posix|os|nt)\.system"),
        (lambda marker: CodePayload(marker), r"global (io|builtins)\.open"),
        (lambda marker: StoragePayload(SystemPayload(marker)), r"torch storage inside was refused.*system"),
    ],
    ids=["os_system", "open", "nested_storage"],
)
def test_a_hostile_file_is_refused_without_running_it(tmp_path, payload, refused):
    marker = tmp_path / "ran"
    path = tmp_path / "2007_000032.npy"
    np.save(path, {"keys": payload(marker), "cam": torch.ones(1, 2, 2), "high_res": np.ones((1, 5, 5))})
    with pytest.raises(DatasetError, match=rf"2007_000032\.npy: refused, not run: .*{refused}"):
        read_reference_cam(path)
    assert not marker.exists()
    if not isinstance(payload(marker), StoragePayload):  # the payload is real: numpy's own loader runs it
        np.load(path, allow_pickle=True)
        assert marker.exists()


class OversizedTensor:
    """A pickled tensor whose view claims far more elements than its 4-element storage holds."""

    def __reduce__(self):
        storage = torch.zeros(4).untyped_storage()
        typed = torch.storage.TypedStorage(wrap_storage=storage, dtype=torch.float32, _internal=True)
        return (torch._utils._rebuild_tensor_v2, (typed, 0, (10**9,), (1,), False, collections.OrderedDict()))


def test_a_tensor_reaching_past_its_storage_is_refused_before_torch_grows_the_storage(tmp_path):
    path = tmp_path / "2007_000032.npy"
    np.save(path, {"keys": OversizedTensor(), "cam": torch.ones(1, 2, 2), "high_res": np.ones((1, 5, 5))})
    with pytest.raises(DatasetError, match=r"2007_000032\.npy: refused, not run: .*past the end of its storage of 4"):
        read_reference_cam(path)


@pytest.mark.parametrize(
    "content, message",
    [
        (
            {"keys": [0, 14], "cam": np.ones((2, 2, 2)), "high_res": np.ones((2, 5, 5))},
            r"'keys' is a list, not an array",
        ),
        ({"keys": np.array([0]), "cam": "maps", "high_res": np.ones((1, 5, 5))}, r"'cam' is a str, not an array"),
        (
            {"keys": np.array([0]), "rw": np.ones((1, 5, 5))},
            r"a dict of the keys 'keys', 'rw'; expected 'keys', 'cam', 'high_res' \(IRN",
        ),
        (
            {"keys": np.array([0, 1]), "cam": np.ones((1, 2, 2)), "high_res": np.ones((2, 5, 5))},
            r"'cam' must be .*K = 2",
        ),
        (
            {"keys": np.array([1, 2]), "cam": np.ones((1, 2, 2)), "hr_cam": np.ones((1, 5, 5))},
            r"start with the background",
        ),
    ],
    ids=["list_value", "string_value", "random_walk_layout", "maps_for_other_classes", "camera_ready_without_0"],
)
def test_a_dict_other_than_the_references_names_the_file_and_the_problem(tmp_path, content, message):
    path = tmp_path / "x.npy"
    np.save(path, content)
    with pytest.raises(DatasetError, match=rf"x\.npy: .*{message}"):
        read_reference_cam(path)


def test_a_truncated_file_is_named(tmp_path):
    path = tmp_path / "2007_000032.npy"
    write_reference_cam(path, [0], (9, 9))
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(DatasetError, match=r"2007_000032\.npy: unreadable or truncated CAM file"):
        read_reference_cam(path)


def test_an_array_that_is_not_a_pickled_dict_is_named(tmp_path):
    path = tmp_path / "x.npy"
    np.save(path, np.zeros((2, 3), np.float32))
    with pytest.raises(DatasetError, match=r"x\.npy: holds a float32 array of shape \(2, 3\), not a pickled dict"):
        read_reference_cam(path)


@pytest.fixture
def tiny(tmp_path):
    """A tiny VOC root with images of an odd size (17 x 29: stride-4 maps 5 x 8), its manifest, and a
    folder of the reference's CAM files for it."""
    root, manifest, cams, _, ids = write_tiny_release(tmp_path, size=(17, 29))
    return root, manifest, cams, ids


def _image(tiny, image_id):
    root, manifest, released, _ = tiny
    return next(
        i
        for i in released_images(root, DatasetManifest.load(manifest), ["train"], released, ".npy")
        if i.image_id == image_id
    )


def test_the_stage_writes_every_image_in_the_projects_cam_format(tiny, tmp_path):
    root, manifest, released, ids = tiny
    load_stage("import_released_cams").import_released_cams(
        str(root), str(manifest), str(released), str(tmp_path / "cams"), ["train"]
    )
    assert sorted(p.name for p in (tmp_path / "cams").iterdir()) == [f"{i}.npz" for i in ids]
    for n, image_id in enumerate(ids):
        reference = read_reference_cam(released / f"{image_id}.npy")
        record = load_cam(tmp_path / "cams", image_id, expected_keys=np.array([n % 2]))
        np.testing.assert_allclose(record.cam, reference.high_res, atol=1e-3)  # float16
        np.testing.assert_allclose(record.cam_stride4, reference.cam, atol=1e-3)
        with np.load(tmp_path / "cams" / f"{image_id}.npz") as data:
            assert data["keys"].dtype == np.int16 and data["cam"].dtype == data["cam_stride4"].dtype == np.float16


def test_missing_files_are_listed_with_their_count_and_folder(tiny, tmp_path):
    root, manifest, released, ids = tiny
    (released / f"{ids[0]}.npy").unlink()
    (released / f"{ids[2]}.npy").unlink()
    with pytest.raises(
        DatasetError, match=rf"released: 2 of the 3 images of train have no file <id>\.npy here \({ids[0]}, {ids[2]}\)"
    ):
        load_stage("import_released_cams").import_released_cams(
            str(root), str(manifest), str(released), str(tmp_path / "cams"), ["train"]
        )
    assert not (tmp_path / "cams").exists()


@pytest.mark.parametrize(
    "classes, size, scale, message",
    [
        ([1], (17, 29), 1.0, r"classes \[1\] \(0-based\), the image's labels \[0\]"),
        ([0], (17, 30), 1.0, r"'high_res' is \(1, 17, 30\), expected \(1, 17, 29\) for the 17x29 image"),
        ([0], (16, 29), 1.0, r"'high_res' is \(1, 16, 29\), expected \(1, 17, 29\)"),
        ([0], (17, 29), 2.0, r"'high_res' holds values in 0\.\d+\.\.1\.9\d+; the reference's maps lie in \[0, 1\]"),
    ],
    ids=["other_class", "other_width", "other_height", "not_normalised"],
)
def test_a_file_that_does_not_fit_its_image_is_named(tiny, tmp_path, classes, size, scale, message):
    root, manifest, released, ids = tiny
    path = released / f"{ids[0]}.npy"
    write_reference_cam(path, classes, size)
    if scale != 1.0:
        content = np.load(path, allow_pickle=True).item()  # a file this test wrote
        np.save(path, {**content, "high_res": content["high_res"] * scale})
    with pytest.raises(DatasetError, match=rf"{ids[0]}\.npy: {message}"):
        convert_reference_cam(_image(tiny, ids[0]), str(tmp_path / "out"))


def test_stride_4_maps_must_be_the_references_ceiling_size(tiny, tmp_path):
    root, manifest, released, ids = tiny
    path = released / f"{ids[0]}.npy"
    np.save(path, {"keys": torch.tensor([0]), "cam": torch.rand(1, 4, 7), "high_res": np.ones((1, 17, 29), np.float32)})
    with pytest.raises(DatasetError, match=r"'cam' is \(1, 4, 7\), expected \(1, 5, 8\)"):
        convert_reference_cam(_image(tiny, ids[0]), str(tmp_path / "out"))


def test_released_images_carry_their_classes_and_files(tiny):
    root, manifest, released, ids = tiny
    images = released_images(root, DatasetManifest.load(manifest), ["train", "train"], released, ".npy")
    assert images == [
        ReleasedImage(i, str(root / "JPEGImages" / f"{i}.jpg"), (n % 2,), str(released / f"{i}.npy"))
        for n, i in enumerate(ids)
    ]
