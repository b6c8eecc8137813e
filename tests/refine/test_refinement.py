"""Refinement: affinities, the sparse random walk, CRF labels, IRN losses, label folders and bad CAM input."""

import numpy as np
import pytest
import torch
import yaml
from conftest import load_stage, write_tiny_voc
from PIL import Image

from wsss.data.cam_io import CamRecord, cam_path, save_cam
from wsss.data.label_folder import read_label_folder_png, write_label_png
from wsss.data.manifest import DatasetManifest
from wsss.data.voc_dataset import VOCDataset
from wsss.errors import DatasetError
from wsss.evaluation.label_eval import evaluate_label_folder
from wsss.models.backbone import ResNetBackbone
from wsss.models.irn import EdgeDisplacementNet, irn_losses, stage_strides, upsample_to_stride4
from wsss.refine.affinity import affinity_labels, half_offsets, pair_affinities, path_points, source_window
from wsss.refine.cam_to_labels import crf_pseudo_labels, crf_scores, ir_labels
from wsss.refine.crf import CRFParams, crf_refine_scores
from wsss.refine.random_walk import dense_random_walk, propagated_labels, random_walk


def test_half_offsets_list_each_unordered_pair_once():
    offsets = half_offsets(5)
    assert len(offsets) == len(set(offsets))
    assert not any((-dy, -dx) in offsets for dy, dx in offsets)
    full = {(dy, dx) for dy in range(-4, 5) for dx in range(-4, 5) if 0 < dy * dy + dx * dx < 25}
    assert full == set(offsets) | {(-dy, -dx) for dy, dx in offsets}


@pytest.mark.parametrize(
    "offset, points",
    [
        ((0, 3), {(0, 0), (0, 1), (0, 2), (0, 3)}),
        # (1, 0) is 2/sqrt(5) ~ 0.89 px from the line through (0, 0) and (1, 2): in; so the whole box.
        ((1, 2), {(0, 0), (0, 1), (0, 2), (1, 0), (1, 1), (1, 2)}),
        ((2, 1), {(0, 0), (1, 0), (2, 0), (0, 1), (1, 1), (2, 1)}),
        # The diagonal and its side neighbours (0.71 px off); (0, 2) is 1.41 px off: out.
        ((3, 3), {(0, 0), (0, 1), (1, 0), (1, 1), (1, 2), (2, 1), (2, 2), (2, 3), (3, 2), (3, 3)}),
        ((1, 4), {(y, x) for y in range(2) for x in range(5)}),  # every point is at most 4/sqrt(17) ~ 0.97 px off
        ((2, -4), {(0, 0), (0, -1), (0, -2), (1, 0), (1, -1), (1, -2), (1, -3), (1, -4), (2, -2), (2, -3), (2, -4)}),
    ],
)
def test_reference_path_holds_every_pixel_less_than_one_pixel_from_the_line(offset, points):
    path = path_points(*offset)
    assert set(path) == points and len(path) == len(points)
    assert path[0] == (0, 0) and path[-1] == offset


def test_one_per_step_path_takes_one_rounded_point_per_step():
    assert path_points(0, 3, "one-per-step") == ((0, 0), (0, 1), (0, 2), (0, 3))
    assert path_points(1, 2, "one-per-step") == ((0, 0), (1, 1), (1, 2))
    assert path_points(3, 3, "one-per-step") == ((0, 0), (1, 1), (2, 2), (3, 3))
    points = path_points(2, -4, "one-per-step")
    assert points[0] == (0, 0) and points[-1] == (2, -4) and len(points) == 5


@pytest.mark.parametrize(
    "radius, offsets, reference_points, one_per_step_points", [(5, 34, 242, 130), (10, 152, 2134, 1050)]
)
def test_path_totals_match_irn_path_index(radius, offsets, reference_points, one_per_step_points):
    assert len(half_offsets(radius)) == offsets
    assert sum(len(path_points(*o)) for o in half_offsets(radius)) == reference_points
    assert sum(len(path_points(*o, "one-per-step")) for o in half_offsets(radius)) == one_per_step_points


def test_affinities_are_one_minus_the_strongest_boundary_on_each_path():
    generator = torch.Generator().manual_seed(1)
    edge = torch.rand(2, 6, 7, generator=generator)
    for rule in ("reference", "one-per-step"):
        affinity, valid = pair_affinities(edge, radius=4, path=rule)
        for o, (dy, dx) in enumerate(half_offsets(4)):
            for y, x in [(0, 3), (2, 2), (4, 0)]:
                inside = y + dy < 6 and 0 <= x + dx < 7
                strongest = max(
                    edge[1, y + py, x + px] if y + py < 6 and 0 <= x + px < 7 else 1.0
                    for py, px in path_points(dy, dx, rule)
                )
                assert bool(valid[1, o, y, x]) == inside
                assert affinity[1, o, y, x] == pytest.approx(float(1 - strongest) if inside else 0.0)


def test_a_boundary_between_two_pixels_cuts_their_affinity():
    edge = torch.zeros(5, 7)
    edge[:, 3] = 1.0  # a vertical wall
    affinity, valid = pair_affinities(edge, radius=3)
    right2 = half_offsets(3).index((0, 2))
    assert affinity[right2, 2, 0] == 1.0  # (2,0) -> (2,2): no wall between
    assert affinity[right2, 2, 2] == 0.0  # (2,2) -> (2,4): crosses the wall
    assert not valid[right2, 2, 5] and affinity[right2, 2, 5] == 0  # (2,5) -> (2,7) leaves the image


def test_a_boundary_pixel_beside_the_line_cuts_the_reference_affinity_only():
    edge = torch.zeros(4, 5)
    edge[1, 2] = 1.0  # beside the segments (1, 1) -> (2, 2) and (1, 1) -> (2, 3), on neither
    diagonal, knight = half_offsets(3).index((1, 1)), half_offsets(4).index((1, 2))
    assert pair_affinities(edge, radius=3)[0][diagonal, 1, 1] == 0.0
    assert pair_affinities(edge, radius=3, path="one-per-step")[0][diagonal, 1, 1] == 1.0
    assert pair_affinities(edge, radius=4)[0][knight, 1, 1] == 0.0
    assert pair_affinities(edge, radius=4, path="one-per-step")[0][knight, 1, 1] == 1.0


def test_a_diagonal_wall_one_pixel_thin_separates_the_reference_pairs_across_it():
    edge = torch.eye(6)  # boundary on the main diagonal; (0, 1) and (1, 0) lie on either side
    across = half_offsets(2).index((1, -1))
    assert pair_affinities(edge, radius=2)[0][across, 0, 1] == 0.0
    assert pair_affinities(edge, radius=2, path="one-per-step")[0][across, 0, 1] == 1.0  # the walk leaks


def test_affinity_labels_skip_unsure_pixels():
    labels = torch.tensor([[[0, 0, 1, 255]]])
    same_bg, same_fg, different = affinity_labels(labels, radius=2)
    right = half_offsets(2).index((0, 1))
    assert same_bg[0, right, 0, 0] and different[0, right, 0, 1]
    assert not (same_bg | same_fg | different)[0, right, 0, 2]  # 1 -> 255


# IRN's PathIndex(radius=3, default_size=(5, 6)) (misc/indexing.py, jiwoon-ahn/irn, run once on a
# copy of the mirror): src_indices and dst_indices, one row of flat partner indices per offset.
REFERENCE_SOURCES = [2, 3, 8, 9, 14, 15]
REFERENCE_PARTNERS = [
    [int(v) for v in row.split()]
    for row in """
3 4 9 10 15 16
8 9 14 15 20 21
4 5 10 11 16 17
14 15 20 21 26 27
7 8 13 14 19 20
9 10 15 16 21 22
6 7 12 13 18 19
10 11 16 17 22 23
13 14 19 20 25 26
15 16 21 22 27 28
12 13 18 19 24 25
16 17 22 23 28 29
""".strip().splitlines()
]


def _training_pairs(labels: torch.Tensor, radius: int, sources: str) -> set[tuple[int, int]]:
    """(source, partner) flat indices of every pair that takes part in the training loss."""
    same_bg, same_fg, different = affinity_labels(labels[None], radius, sources)
    width = labels.shape[1]
    return {
        (y * width + x, (y + dy) * width + x + dx)
        for o, y, x in (same_bg | same_fg | different)[0].nonzero().tolist()
        for dy, dx in [half_offsets(radius)[o]]
    }


def test_reference_pair_sources_give_irn_path_index_pairs():
    labels = torch.tensor([[0, 0, 1, 1, 2, 2]] * 5)
    expected = {(s, t) for row in REFERENCE_PARTNERS for s, t in zip(REFERENCE_SOURCES, row)}
    assert _training_pairs(labels, 3, "reference") == expected and len(expected) == 72
    every = _training_pairs(labels, 3, "all")
    assert expected < every  # "all" adds the pairs from the left, right and bottom margins
    assert all(s % 6 < 2 or s % 6 >= 4 or s >= 18 for s, _ in every - expected)


def test_reference_pair_sources_keep_the_top_row_and_drop_radius_minus_1_at_the_other_sides():
    window = source_window(3, 5, 6, "reference")
    assert window.tolist() == [[False, False, True, True, False, False]] * 3 + [[False] * 6] * 2
    assert source_window(3, 5, 6, "all").all()
    assert int(source_window(10, 128, 128, "reference").sum()) == 119 * 110  # a 512 crop at radius 10
    with pytest.raises(ValueError, match="unknown pair sources 'inner'"):
        source_window(3, 5, 6, "inner")


def test_edge_branch_upsamples_by_a_fixed_factor_then_applies_relu_then_crops_the_top_left():
    # Bilinear x2 with half-pixel centres of [-1, 3]: samples at -0.25, 0.25, 0.75, 1.25 (clamped at
    # the ends) give [-1, 0, 2, 3]; ReLU then [0, 0, 2, 3]; the crop keeps 3. ReLU first would give
    # [0, 0.75, 2.25, 3].
    features = torch.tensor([[[[-1.0, 3.0]]]])
    assert upsample_to_stride4(features, 2, (2, 3)).tolist() == [[[[0.0, 0.0, 2.0], [0.0, 0.0, 2.0]]]]
    assert upsample_to_stride4(features, 1, (1, 1)).tolist() == [[[[0.0]]]]


def test_edge_branch_factors_follow_the_backbone_strides():
    assert stage_strides(ResNetBackbone("resnet18", 16)) == (4, 4, 8, 16, 16)
    assert stage_strides(ResNetBackbone("resnet18", 8)) == (4, 4, 8, 8, 8)
    assert EdgeDisplacementNet(ResNetBackbone("resnet18", 16)).edge_factors == [1, 1, 2, 4, 4]


def test_edge_branch_keeps_the_stride_4_size_on_sides_that_are_not_multiples_of_16():
    model = EdgeDisplacementNet(ResNetBackbone("resnet18", 16)).eval()
    with torch.no_grad():
        edge_logits, displacement = model(torch.rand(1, 3, 75, 50))  # layer3: 5 x 4, x4 = 20 x 16
    assert edge_logits.shape == (1, 1, 19, 13) and displacement.shape == (1, 2, 19, 13)


def test_crf_takes_a_read_only_image_such_as_a_pil_image_array():
    image, cam = _two_region_image()
    read_only = np.asarray(Image.fromarray(image))
    assert not read_only.flags.writeable
    scores = np.stack([1 - cam[0], cam[0]])
    expected = crf_refine_scores(image, scores, CRFParams())
    assert np.array_equal(crf_refine_scores(read_only, scores, CRFParams()), expected)


@pytest.mark.parametrize("path", ["reference", "one-per-step"])
@pytest.mark.parametrize("radius, beta, exp_times", [(5, 10, 4), (3, 2, 6), (4, 10, 0)])
def test_sparse_random_walk_equals_the_dense_matrix_power(radius, beta, exp_times, path):
    generator = torch.Generator().manual_seed(radius)
    edge = torch.rand(9, 11, generator=generator) ** 3
    scores = torch.rand(3, 9, 11, generator=generator)
    sparse = random_walk(scores, edge, radius=radius, beta=beta, exp_times=exp_times, path=path)
    dense = dense_random_walk(scores, edge, radius=radius, beta=beta, exp_times=exp_times, path=path)
    assert torch.allclose(sparse, dense, atol=1e-5, rtol=1e-4)


def test_random_walk_spreads_a_seed_inside_its_region_only():
    edge = torch.zeros(8, 8)
    edge[:, 4] = 1.0
    scores = torch.zeros(1, 8, 8)
    scores[0, 3, 1] = 1.0
    walked = random_walk(scores, edge, radius=3, beta=10, exp_times=6)[0]
    assert walked[:, :4].min() > 0 and walked[:, 5:].max() < 1e-3 * walked[:, :4].min()


def test_propagated_labels_use_only_the_image_classes():
    cam = np.zeros((1, 4, 4), dtype=np.float32)
    cam[0, :2, :2] = 1.0
    labels = propagated_labels(
        cam, np.array([4]), torch.zeros(4, 4), (15, 14), radius=3, beta=10, exp_times=2, bg_threshold=0.2
    )
    assert labels.shape == (15, 14) and set(np.unique(labels)) <= {0, 5} and labels[0, 0] == 5


def _two_region_image():
    image = np.zeros((24, 24, 3), dtype=np.uint8)
    image[:, 12:] = 200
    cam = np.zeros((1, 24, 24), dtype=np.float32)
    cam[0, :, 12:] = 0.9  # confident object
    cam[0, :, 9:12] = 0.2  # weak: only the low background plane calls it object
    return image, cam


def test_ir_labels_mark_confident_object_background_and_unsure():
    image, cam = _two_region_image()
    labels = ir_labels(
        image,
        cam,
        np.array([2]),
        fg_threshold=0.3,
        bg_threshold=0.1,
        params=CRFParams(bilateral_compat=0, gaussian_compat=0),
    )
    assert set(np.unique(labels)) == {0, 3, 255}
    assert (labels[:, 13:] == 3).all() and (labels[:, :8] == 0).all() and (labels[:, 9:12] == 255).all()


def test_crf_pseudo_labels_follow_the_image_edge():
    image, cam = _two_region_image()
    cam[0, :, 9:12] = 0.6  # the CAM spills over the colour edge; the CRF pulls it back
    labels = crf_pseudo_labels(image, cam, np.array([0]), bg_threshold=0.3, params=CRFParams())
    assert set(np.unique(labels)) <= {0, 1}
    assert (labels[:, 13:] == 1).mean() > 0.95 and (labels[:, :9] == 0).mean() > 0.95


@pytest.mark.parametrize("path", ["reference", "one-per-step"])
def test_irn_losses_train_the_branches_and_never_the_backbone(path):
    torch.manual_seed(0)
    model = EdgeDisplacementNet(ResNetBackbone("resnet18", 16))
    images = torch.rand(2, 3, 32, 32)
    labels = torch.zeros(2, 8, 8, dtype=torch.int64)
    labels[:, 2:6, 2:6] = 1
    labels[:, 0, :] = 255
    edge_logits, displacement = model(images)
    assert edge_logits.shape == (2, 1, 8, 8) and displacement.shape == (2, 2, 8, 8)
    losses = irn_losses(edge_logits, displacement, labels, radius=4, path=path)
    losses["total"].backward()
    assert all(p.grad is None for p in model.backbone.parameters())
    edge_params, displacement_params = model.branch_parameters()
    assert all(p.grad is not None for p in edge_params + displacement_params)
    assert all(torch.isfinite(v) for v in losses.values())


def test_irn_losses_with_reference_pair_sources_average_over_irn_path_index_pairs_only():
    edge_logits = torch.randn(1, 1, 5, 6, generator=torch.Generator().manual_seed(0))
    displacement = torch.zeros(1, 2, 5, 6)
    labels = torch.zeros(1, 5, 6, dtype=torch.int64)  # all background: every pair is a same_bg pair
    affinity, _ = pair_affinities(torch.sigmoid(edge_logits[0, 0]), 3)
    terms = []
    for row in REFERENCE_PARTNERS:
        for source, partner in zip(REFERENCE_SOURCES, row):
            (y, x), (ty, tx) = divmod(source, 6), divmod(partner, 6)
            terms.append(-torch.log(affinity[half_offsets(3).index((ty - y, tx - x)), y, x] + 1e-5))
    losses = irn_losses(edge_logits, displacement, labels, radius=3, sources="reference")
    assert losses["bg_affinity"] == pytest.approx(float(torch.stack(terms).mean()), rel=1e-6)
    assert irn_losses(edge_logits, displacement, labels, radius=3)["bg_affinity"] != losses["bg_affinity"]


def test_label_png_keeps_indices_and_has_a_palette(tmp_path):
    labels = np.array([[0, 1, 20], [255, 3, 0]], dtype=np.uint8)
    write_label_png(tmp_path, "img", labels)
    from PIL import Image

    assert Image.open(tmp_path / "img.png").mode == "P"
    assert np.array_equal(read_label_folder_png(tmp_path, "img", (2, 3)), labels)
    with pytest.raises(DatasetError, match=r"img.*is 3x2, the image 2x2"):
        read_label_folder_png(tmp_path, "img", (2, 2))
    with pytest.raises(DatasetError, match="'other' is missing"):
        read_label_folder_png(tmp_path, "other")


def _manifest_file(tmp_path):
    path = tmp_path / "manifest.yaml"
    path.write_text(
        yaml.safe_dump({"name": "tiny", "classes": ["cat", "diningtable"], "background_prompts": ["floor"]})
    )
    return path


def test_coverage_counts_only_confident_pixels(tmp_path):
    root = tmp_path / "VOC"
    ids = write_tiny_voc(root, n=2)
    dataset = VOCDataset(root, DatasetManifest.load(_manifest_file(tmp_path)), "train")
    for image_id in ids:
        truth = dataset.read_mask(image_id).copy()
        truth[:10] = 255  # the upper half unsure, the rest exactly right
        write_label_png(tmp_path / "labels", image_id, truth)
    result = evaluate_label_folder(dataset, tmp_path / "labels")
    valid = sum(int((dataset.read_mask(i) != 255).sum()) for i in ids)
    labelled = sum(int((dataset.read_mask(i)[10:] != 255).sum()) for i in ids)
    assert result["coverage"] == pytest.approx(labelled / valid)
    assert np.trace(result["confusion"]) == result["confusion"].sum() == labelled


@pytest.fixture
def cam_folder(tmp_path):
    """A tiny VOC root, its manifest file, and a folder of correct CAMs for every image."""
    root = tmp_path / "VOC"
    ids = write_tiny_voc(root, n=3)
    manifest = _manifest_file(tmp_path)
    dataset = VOCDataset(root, DatasetManifest.load(manifest), "train")
    cams = tmp_path / "cams"
    for image_id, row in zip(ids, dataset.label_matrix()):
        keys = np.flatnonzero(row)
        cam = np.zeros((len(keys), 20, 30), dtype=np.float32)
        cam[:, 5:15, 5:20] = 1.0
        save_cam(cams, image_id, CamRecord(keys, cam, cam[:, ::4, ::4].copy()))
    return root, manifest, cams, ids


def _run_ir_label(root, manifest, cams, out):
    ir_label = load_stage("ir_label").ir_label
    ir_label(str(root), str(manifest), str(cams), str(out), ["train"], crf={"iterations": 2}, threads=1)


def test_ir_label_stage_writes_one_png_per_image_and_a_readme(cam_folder, tmp_path):
    root, manifest, cams, ids = cam_folder
    _run_ir_label(root, manifest, cams, tmp_path / "ir")
    assert sorted(p.stem for p in (tmp_path / "ir").glob("*.png")) == sorted(ids)
    assert "255  unsure" in (tmp_path / "ir" / "README.txt").read_text()


@pytest.mark.parametrize(
    "damage, message",
    [
        (lambda path: path.unlink(), "is missing"),
        (lambda path: path.write_bytes(path.read_bytes()[:40]), "unreadable or truncated"),
        (
            lambda path: save_cam(
                path.parent, path.stem, CamRecord(np.array([0, 1]), np.zeros((2, 20, 30)), np.zeros((2, 5, 8)))
            ),
            "do not match its labels",
        ),
    ],
)
@pytest.mark.parametrize("stage", ["ir_label", "make_pseudo_labels"])
def test_bad_cam_files_name_the_id_and_leave_no_output(cam_folder, tmp_path, damage, message, stage):
    root, manifest, cams, ids = cam_folder
    damage(cam_path(cams, ids[1]))
    out = tmp_path / "out"
    with pytest.raises(DatasetError, match=rf"{ids[1]}.*{message}|{message}.*{ids[1]}"):
        if stage == "ir_label":
            _run_ir_label(root, manifest, cams, out)
        else:
            make_pseudo_labels = load_stage("make_pseudo_labels").make_pseudo_labels
            make_pseudo_labels(
                str(root), str(manifest), str(cams), str(out), ["train"], method="crf", crf={"iterations": 2}
            )
    assert not out.exists() and not list(tmp_path.glob("out*"))


def test_power_background_scores_are_clip_es_unnormalised_planes():
    cam = np.array([[[0.2, 0.9]], [[0.6, 0.1]]], dtype=np.float32)
    scores = crf_scores(cam, "power", bg_threshold=0.3, alpha=2.0)
    # background (1 - max)^2: (1 - 0.6)^2 = 0.16 and (1 - 0.9)^2 = 0.01; the CAMs are kept as they are
    assert np.allclose(scores[0], [[0.16, 0.01]]) and np.array_equal(scores[1:], cam)
    threshold = crf_scores(cam, "threshold", bg_threshold=0.3, alpha=2.0)
    assert np.allclose(threshold.sum(axis=0), 1.0) and np.allclose(threshold[0], [[0.3 / 1.1, 0.3 / 1.3]])


def test_pixels_the_crf_is_unsure_of_become_ignored_below_the_confidence():
    image, cam = _two_region_image()
    cam[0, :, 9:12] = 0.5  # the edge band: background (1 - 0.5) and the object (0.5) tie there
    sure = crf_pseudo_labels(image, cam, np.array([0]), CRFParams(iterations=0), background="power", alpha=1.0)
    assert set(np.unique(sure)) <= {0, 1}
    unsure = crf_pseudo_labels(
        image, cam, np.array([0]), CRFParams(iterations=0), background="power", alpha=1.0, confidence=0.95
    )
    assert (unsure[:, 9:12] == 255).all()
    assert np.array_equal(unsure[unsure != 255], sure[unsure != 255])
