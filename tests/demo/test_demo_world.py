"""The demo world: deterministic bytes, labels that agree with the masks, the intended statistics."""

import hashlib

import numpy as np
import pytest

from wsss.data.manifest import DatasetManifest
from wsss.data.voc_dataset import VOCDataset
from wsss.demo.scenes import BACKGROUND_OF, BACKGROUNDS, CLASSES, WorldSettings
from wsss.demo.writer import manifest_dict, render_image, write_demo_world
from wsss.palette import IGNORE_INDEX

SETTINGS = WorldSettings(image_size=64, min_object_pixels=8)


def digest(root):
    """Hash of every file's relative path and bytes under ``root``."""
    h = hashlib.sha256()
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        h.update(str(path.relative_to(root)).encode())
        h.update(path.read_bytes())
    return h.hexdigest()


def test_same_seed_gives_identical_bytes_whatever_the_worker_count(tmp_path):
    sizes = {"train": 12, "val": 5}
    write_demo_world(tmp_path / "a", 3, sizes, SETTINGS, workers=1)
    write_demo_world(tmp_path / "b", 3, sizes, SETTINGS, workers=2)
    write_demo_world(tmp_path / "c", 4, sizes, SETTINGS, workers=1)
    assert digest(tmp_path / "a") == digest(tmp_path / "b")
    assert digest(tmp_path / "a") != digest(tmp_path / "c")


def test_annotations_agree_with_masks_and_reader_accepts_the_world(tmp_path):
    write_demo_world(tmp_path, 0, {"train": 30}, SETTINGS)
    xml = VOCDataset(tmp_path, DatasetManifest.from_dict(manifest_dict()), "train")
    masks = VOCDataset(tmp_path, DatasetManifest.from_dict({**manifest_dict(), "labels_from": "masks"}), "train")
    np.testing.assert_array_equal(xml.label_matrix(), masks.label_matrix())
    assert 1 <= xml.label_matrix().sum(axis=1).min() and xml.label_matrix().sum(axis=1).max() <= 3
    image = xml.read_image(xml.ids[0])
    assert image.shape == (64, 64, 3)


def test_shipped_manifest_matches_the_generator():
    shipped = DatasetManifest.load("data_manifest/demo.yaml")
    assert shipped == DatasetManifest.from_dict(manifest_dict())
    assert shipped.class_names == CLASSES


def test_masks_have_objects_background_and_ignore_borders():
    _, rgb, labels, _ = render_image(0, "train", 0, WorldSettings(image_size=96))
    values = set(np.unique(labels).tolist())
    assert 0 in values and IGNORE_INDEX in values and values - {0, IGNORE_INDEX}
    assert rgb.dtype == np.uint8 and rgb.shape == (96, 96, 3)


def test_objects_are_drawn_where_the_mask_says():
    """Object pixels differ from the same scene rendered without objects; background pixels do not."""
    from wsss.demo.render import render_scene
    from wsss.demo.scenes import image_rng, sample_scene

    settings = WorldSettings(image_size=64, noise_std=0.0, boundary_ignore=0)
    scene = sample_scene(image_rng(5, "train", 1), settings)
    full, labels, _ = render_scene(scene, settings)
    empty, _, _ = render_scene(scene, settings, draw_objects=False)
    changed = np.abs(full.astype(int) - empty.astype(int)).sum(axis=2) > 0
    objects = (labels != 0) & (labels != IGNORE_INDEX)
    assert changed[objects].mean() > 0.9
    assert changed[labels == 0].mean() < 0.05


@pytest.mark.parametrize("cooccurrence", [0.2, 0.95])
def test_cooccurrence_rate_follows_the_setting(cooccurrence):
    from wsss.demo.scenes import image_rng, sample_scene

    settings = WorldSettings(image_size=64, cooccurrence=cooccurrence, stray_background=0.0)
    hits = total = 0
    for i in range(300):
        scene = sample_scene(image_rng(0, "train", i), settings)
        backgrounds = {layer.name for layer in scene.backgrounds}
        for name in {layer.name for layer in scene.objects}:
            total += 1
            hits += BACKGROUND_OF[name] in backgrounds
    assert abs(hits / total - cooccurrence) < 0.06


def test_statistics_report_every_class_and_stray_backgrounds(tmp_path):
    stats = write_demo_world(tmp_path, 0, {"train": 120}, SETTINGS)
    per_class = stats["splits"]["train"]["classes"]
    assert set(per_class) == set(CLASSES)
    assert all(v["images"] > 0 for v in per_class.values())
    assert sum(v["background_without_object"] for v in per_class.values()) > 0


def test_background_regions_mark_the_drawn_backgrounds():
    from wsss.demo.render import background_regions
    from wsss.demo.scenes import BACKGROUNDS, image_rng, sample_scene

    settings = WorldSettings(image_size=64)
    for index in range(20):
        scene = sample_scene(image_rng(0, "train", index), settings)
        regions = background_regions(scene, settings)
        drawn = {BACKGROUNDS[v - 1] for v in np.unique(regions) if v}
        assert drawn <= {layer.name for layer in scene.backgrounds}
        assert len(drawn) >= len(scene.backgrounds) - 1  # a band may be fully covered by a later one


def test_every_drawing_setting_comes_from_the_config():
    """The demo_world keys the rules pass as ``world`` build WorldSettings whole (min_object_pixels too)."""
    from dataclasses import fields

    from wsss.config import validate_config
    from wsss.demo.scenes import WorldSettings

    world = validate_config({"demo_world": {"min_object_pixels": 8}})["demo_world"]
    drawing = WorldSettings.drawing_keys(world)
    settings = WorldSettings.from_config(drawing)
    assert settings.min_object_pixels == 8 and isinstance(settings.classes_per_image, tuple)
    assert {f.name for f in fields(WorldSettings)} - set(drawing) == {"supersample"}


def test_the_leak_evaluation_reads_each_class_background_from_the_world_not_from_the_demo_code(tmp_path):
    from wsss.evaluation.label_eval import cooccurring_background_regions

    write_demo_world(tmp_path, 0, {"train": 2}, SETTINGS)
    regions, background_of_class = cooccurring_background_regions(tmp_path, ("boat", "cow"))
    assert regions == tmp_path / "SegmentationBackground"
    assert list(background_of_class) == [BACKGROUNDS.index("water") + 1, BACKGROUNDS.index("grass") + 1]
    assert cooccurring_background_regions(tmp_path, ("boat", "sofa")) == (None, None)  # a class without one
    (regions / "regions.json").write_text("[1, 2]")
    with pytest.raises(ValueError, match="regions.json: not a background-regions description"):
        cooccurring_background_regions(tmp_path, ("boat",))


def test_nothing_outside_the_demo_package_imports_it():
    from conftest import REPO

    importers = [
        str(path.relative_to(REPO))
        for path in (REPO / "wsss").rglob("*.py")
        if "demo" not in path.relative_to(REPO / "wsss").parts and "wsss.demo" in path.read_text()
    ]
    assert importers == []
