"""Multi-scale + flip CAM inference: the reference's PIL rescaling; batching, chunking and memory layout
must not change the maps."""

import numpy as np
import torch
from PIL import Image

from wsss.clims.cam_inference import (
    forward_pixel_cap,
    inference_ready,
    multiscale_cams,
    normalize_positive,
    scaled_input,
)
from wsss.data.training_data import normalize_imagenet
from wsss.models.cam_net import CAMNet

SCALES = [1.0, 0.5, 1.5]


def _model() -> CAMNet:
    torch.manual_seed(0)
    return CAMNet(3, "resnet18", 16).eval()


def test_batched_chunked_and_channels_last_inference_give_the_same_maps():
    model = _model()
    images = np.random.default_rng(0).integers(0, 256, (3, 64, 48, 3), dtype=np.uint8)
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
    image = np.random.default_rng(0).integers(0, 256, (1, 64, 64, 3), dtype=np.uint8)
    full, stride4 = multiscale_cams(model, image, SCALES)
    mirrored_full, mirrored_stride4 = multiscale_cams(model, np.ascontiguousarray(image[:, :, ::-1]), SCALES)
    assert torch.allclose(mirrored_full, full.flip(-1), atol=1e-4)
    assert torch.allclose(mirrored_stride4, stride4.flip(-1), atol=1e-4)
    assert (full >= 0).all()  # a sum of ReLU maps


def _reference_input(image: np.ndarray, scale: float) -> torch.Tensor:
    """The reference's input: PIL bicubic on uint8 to (round(h*s), round(w*s)), then ImageNet-normalised."""
    height, width = image.shape[:2]
    resized = np.asarray(Image.fromarray(image).resize((round(width * scale), round(height * scale)), Image.BICUBIC))
    return normalize_imagenet(torch.from_numpy(resized.copy()).permute(2, 0, 1)[None].float() / 255)


def test_scaled_input_is_pil_bicubic_of_the_uint8_image():
    images = np.random.default_rng(0).integers(0, 256, (2, 15, 10, 3), dtype=np.uint8)
    for scale, size in [(1.0, (15, 10)), (0.5, (8, 5)), (1.5, (22, 15)), (2.0, (30, 20))]:  # round(7.5) = 8
        scaled = scaled_input(images, scale, torch.device("cpu"))
        assert scaled.shape == (2, 3, *size)
        for n in range(2):
            assert torch.equal(scaled[n : n + 1], _reference_input(images[n], scale))


def test_the_network_sees_each_scale_and_its_flip_of_the_pil_rescaled_images():
    model = _model()
    seen = []
    forward = model.cams

    def recording_cams(x: torch.Tensor) -> torch.Tensor:
        seen.append(x.clone())
        return forward(x)

    model.cams = recording_cams
    images = np.random.default_rng(0).integers(0, 256, (2, 30, 20, 3), dtype=np.uint8)
    multiscale_cams(model, images, SCALES)
    assert len(seen) == len(SCALES)  # one forward per scale: the images and their flips together
    for batch, scale in zip(seen, SCALES):
        expected = torch.cat([_reference_input(image, scale) for image in images])
        assert torch.equal(batch, torch.cat([expected, expected.flip(-1)]))


def test_normalize_positive_keeps_the_positive_classes_each_peaking_near_one():
    cams = torch.stack([torch.full((4, 4), 2.0), torch.arange(16.0).view(4, 4), torch.zeros(4, 4)])
    selected = normalize_positive(cams, torch.tensor([1, 2]))
    assert selected.shape == (2, 4, 4)
    assert abs(selected[0].max().item() - 1.0) < 1e-5
    assert selected[1].abs().max() == 0  # an all-zero map stays zero (the +1e-5 guards the division)


def test_cpu_inference_is_chunked_and_cuda_is_not():
    assert forward_pixel_cap(torch.device("cpu")) > 0
    assert forward_pixel_cap(torch.device("cuda")) is None


def test_cam_inference_runs_in_fp32_unless_autocast_is_asked_for(monkeypatch):
    """The reference's make_cam is fp32: no autocast region unless a dtype is given (CUDA only)."""
    from wsss.clims import cam_inference

    asked = []
    original = cam_inference.autocast
    monkeypatch.setattr(cam_inference, "autocast", lambda device, dtype: asked.append(dtype) or original(device, dtype))
    model = inference_ready(CAMNet(2, "resnet18", 16), torch.device("cpu"))
    images = np.zeros((1, 32, 32, 3), dtype=np.uint8)
    multiscale_cams(model, images, [1.0])
    multiscale_cams(model, images, [1.0], autocast_dtype=torch.bfloat16)
    assert asked == [None, torch.bfloat16]


def test_the_input_is_normalised_with_the_networks_statistics():
    """CLIMS's camera-ready network reads CLIP-normalised images; every other CAM network ImageNet's."""
    from wsss.models.cam_net import CLIP_MEAN, CLIP_STD

    pixels = np.array([[[[0, 128, 255]]]], dtype=np.uint8)  # one RGB pixel
    clip = scaled_input(pixels, 1.0, torch.device("cpu"), (CLIP_MEAN, CLIP_STD))[0, :, 0, 0]
    imagenet = scaled_input(pixels, 1.0, torch.device("cpu"))[0, :, 0, 0]
    expected = [(v / 255 - m) / s for v, m, s in zip((0, 128, 255), CLIP_MEAN, CLIP_STD)]
    torch.testing.assert_close(clip, torch.tensor(expected, dtype=torch.float32))
    torch.testing.assert_close(
        imagenet, torch.tensor([(0 - 0.485) / 0.229, (128 / 255 - 0.456) / 0.224, (1 - 0.406) / 0.225])
    )
