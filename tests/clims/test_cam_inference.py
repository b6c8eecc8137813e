"""Multi-scale + flip CAM inference: batching, chunking and memory layout must not change the maps."""

import torch

from wsss.clims.cam_inference import forward_pixel_cap, inference_ready, multiscale_cams, normalize_positive
from wsss.models.cam_net import CAMNet

SCALES = [1.0, 0.5, 1.5]


def _model() -> CAMNet:
    torch.manual_seed(0)
    return CAMNet(3, "resnet18", 16).eval()


def test_batched_chunked_and_channels_last_inference_give_the_same_maps():
    model = _model()
    images = torch.rand(3, 3, 64, 48)
    one_at_a_time = [multiscale_cams(model, images[i : i + 1], SCALES) for i in range(3)]
    batched = multiscale_cams(model, images, SCALES)
    chunked = multiscale_cams(
        inference_ready(_model(), torch.device("cpu")), images, SCALES, pixels_per_forward=64 * 48
    )
    for n, (full, stride4) in enumerate(one_at_a_time):
        for result in (batched, chunked):
            assert torch.allclose(result[0][n], full[0], atol=1e-4)
            assert torch.allclose(result[1][n], stride4[0], atol=1e-4)
    assert batched[0].shape == (3, 3, 64, 48) and batched[1].shape == (3, 3, 16, 12)


def test_flip_augmented_maps_are_mirror_symmetric():
    """Each scale adds the map of the flipped image flipped back, so mirroring the input mirrors the output."""
    model = _model()
    image = torch.rand(1, 3, 64, 64)
    full, stride4 = multiscale_cams(model, image, SCALES)
    mirrored_full, mirrored_stride4 = multiscale_cams(model, image.flip(-1), SCALES)
    assert torch.allclose(mirrored_full, full.flip(-1), atol=1e-4)
    assert torch.allclose(mirrored_stride4, stride4.flip(-1), atol=1e-4)
    assert (full >= 0).all()  # a sum of ReLU maps


def test_normalize_positive_keeps_the_positive_classes_each_peaking_near_one():
    cams = torch.stack([torch.full((4, 4), 2.0), torch.arange(16.0).view(4, 4), torch.zeros(4, 4)])
    selected = normalize_positive(cams, torch.tensor([1, 2]))
    assert selected.shape == (2, 4, 4)
    assert abs(selected[0].max().item() - 1.0) < 1e-5
    assert selected[1].abs().max() == 0  # an all-zero map stays zero (the +1e-5 guards the division)


def test_cpu_inference_is_chunked_and_cuda_is_not():
    assert forward_pixel_cap(torch.device("cpu")) > 0
    assert forward_pixel_cap(torch.device("cuda")) is None
