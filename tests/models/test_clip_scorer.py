"""The frozen CLIP evaluator: loading, frozen-ness, text encoded once, batching, reference quirks, errors."""

import urllib.error
import urllib.request

import clip
import pytest
import torch
import torch.nn.functional as F
from conftest import TINY_CLIP as TINY

from wsss.data.training_data import IMAGENET_MEAN, IMAGENET_STD
from wsss.demo.clip import build_demo_clip
from wsss.models.clip_scorer import ClipLoadError, ClipScorer, load_clip

CLASSES = ["a photo of boat.", "a photo of car.", "a photo of cow."]
BACKGROUNDS = ["a photo of water.", "a photo of road."]


@pytest.fixture
def checkpoint(tiny_clip_checkpoint):
    return tiny_clip_checkpoint


@pytest.fixture
def scorer(checkpoint):
    return ClipScorer(load_clip(str(checkpoint)), CLASSES, BACKGROUNDS, input_mode="clip")


def pairs(n=4, size=48, seed=1):
    g = torch.Generator().manual_seed(seed)
    images = torch.rand(n, 3, size, size, generator=g)
    masks = torch.rand(n, 1, size // 4, size // 4, generator=g)
    classes = torch.randint(0, len(CLASSES), (n,), generator=g)
    return images, masks, classes


def test_checkpoint_round_trip_through_clip_load(checkpoint):
    torch.manual_seed(0)
    original = build_demo_clip(TINY).eval()
    loaded = load_clip(str(checkpoint))
    assert loaded.visual.input_resolution == 32 and loaded.context_length == 16
    x = torch.rand(2, 3, 32, 32)
    with torch.no_grad():
        # clip.load stores weights in fp16 then casts back (as for OpenAI's checkpoints).
        torch.testing.assert_close(loaded.encode_image(x), original.encode_image(x), atol=5e-3, rtol=0)


def test_clip_is_frozen_and_gradients_reach_only_the_masks(scorer):
    images, masks, classes = pairs()
    masks.requires_grad_(True)
    scores = scorer.score(images, masks, classes)
    (scores.foreground_class.sum() + scores.background_class.sum() + scores.foreground_backgrounds.sum()).backward()
    assert masks.grad is not None and masks.grad.abs().sum() > 0
    assert not scorer.model.training
    assert all(not p.requires_grad and p.grad is None for p in scorer.model.parameters())


def test_text_is_encoded_once_per_run(checkpoint, monkeypatch):
    model = load_clip(str(checkpoint))
    calls = []
    original = model.encode_text
    monkeypatch.setattr(model, "encode_text", lambda tokens: calls.append(len(tokens)) or original(tokens))
    scorer = ClipScorer(model, CLASSES, BACKGROUNDS)
    assert calls == [3, 2]
    for seed in range(3):
        scorer.score(*pairs(seed=seed))
    assert calls == [3, 2]


def test_batched_scores_equal_one_pair_at_a_time(scorer):
    images, masks, classes = pairs(n=5)
    batched = scorer.score(images, masks, classes)
    for i in range(5):
        single = scorer.score(images[i : i + 1], masks[i : i + 1], classes[i : i + 1])
        torch.testing.assert_close(single.foreground_class, batched.foreground_class[i : i + 1], atol=1e-5, rtol=1e-5)
        torch.testing.assert_close(single.background_class, batched.background_class[i : i + 1], atol=1e-5, rtol=1e-5)
        torch.testing.assert_close(
            single.foreground_backgrounds, batched.foreground_backgrounds[i : i + 1], atol=1e-5, rtol=1e-5
        )


def test_image_encoder_runs_once_per_batch(scorer, monkeypatch):
    calls = []
    original = scorer.model.encode_image
    monkeypatch.setattr(scorer.model, "encode_image", lambda x: calls.append(x.shape[0]) or original(x))
    scorer.score(*pairs(n=3))
    assert calls == [6]  # foreground and background views of 3 pairs in one pass


def test_reference_mode_matches_a_hand_written_reference(checkpoint):
    """The reference: ImageNet-normalised crop, align_corners=True resizes, P_k * X, cosine, no softmax."""
    model = load_clip(str(checkpoint)).float()
    scorer = ClipScorer(model, CLASSES, BACKGROUNDS, input_mode="reference")
    images, masks, classes = pairs(n=3)
    scores = scorer.score(images, masks, classes)

    mean = torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD).view(1, 3, 1, 1)
    x = F.interpolate((images - mean) / std, size=(32, 32), mode="bilinear", align_corners=True)
    p = F.interpolate(masks, size=(32, 32), mode="bilinear", align_corners=True)
    with torch.no_grad():
        text = model.encode_text(clip.tokenize(CLASSES, context_length=16))
        text = text / text.norm(dim=-1, keepdim=True)
        for i in range(3):
            fg = model.encode_image(p[i : i + 1] * x[i : i + 1])
            bg = model.encode_image((1 - p[i : i + 1]) * x[i : i + 1])
            fg, bg = fg / fg.norm(dim=-1, keepdim=True), bg / bg.norm(dim=-1, keepdim=True)
            assert torch.allclose(scores.foreground_class[i], (fg @ text[classes[i]]).squeeze(), atol=1e-5)
            assert torch.allclose(scores.background_class[i], (bg @ text[classes[i]]).squeeze(), atol=1e-5)


def test_clip_mode_blacks_out_masked_pixels(scorer):
    images = torch.rand(1, 3, 32, 32)
    zero = scorer.prepare(images, torch.zeros(1, 1, 32, 32))
    black = scorer.prepare(torch.zeros(1, 3, 32, 32), torch.ones(1, 1, 32, 32))
    torch.testing.assert_close(zero, black)


def test_corrupt_or_plain_checkpoints_give_one_clear_error(tmp_path, checkpoint):
    garbage = tmp_path / "garbage.pt"
    garbage.write_bytes(b"not a checkpoint at all")
    with pytest.raises(ClipLoadError, match=r"garbage\.pt is not a readable CLIP TorchScript checkpoint"):
        load_clip(str(garbage))
    truncated = tmp_path / "truncated.pt"
    truncated.write_bytes(checkpoint.read_bytes()[:5000])
    with pytest.raises(ClipLoadError, match=r"truncated\.pt is not a readable CLIP"):
        load_clip(str(truncated))
    plain = tmp_path / "state_dict.pt"
    torch.save(build_demo_clip(TINY).state_dict(), plain)
    with pytest.raises(ClipLoadError, match=r"state_dict\.pt is not a readable CLIP"):
        load_clip(str(plain))


def test_unknown_model_name():
    with pytest.raises(ClipLoadError, match=r"'ViT-Q/99' is neither a known model name \(RN50.*ViT-B/32"):
        load_clip("ViT-Q/99")


def test_missing_weights_without_network_say_where_to_put_them(tmp_path, monkeypatch):
    def offline(*args, **kwargs):
        raise urllib.error.URLError("no network")

    monkeypatch.setattr(urllib.request, "urlopen", offline)
    with pytest.raises(ClipLoadError, match=rf"place the official 'ViT-B/16' weights at {tmp_path}/ViT-B-16\.pt"):
        load_clip("ViT-B/16", download_root=tmp_path)


def test_fp16_clip_as_the_reference_runs_it_on_cuda(checkpoint):
    """fp16 weights, no autocast: fp16 similarities close to fp32 ones; fp32 masks still get gradients."""
    half = ClipScorer(load_clip(str(checkpoint)), CLASSES, BACKGROUNDS, "reference", torch.float16, None)
    full = ClipScorer(load_clip(str(checkpoint)), CLASSES, BACKGROUNDS, "reference", torch.float32, None)
    # what clip.load leaves on CUDA: fp16 convolutions and projections, fp32 LayerNorms
    assert half.model.dtype == half.model.text_projection.dtype == torch.float16
    assert half.model.ln_final.weight.dtype == torch.float32
    assert half.class_features.dtype == half.background_features.dtype == torch.float16
    images, masks, classes = pairs()
    masks.requires_grad_(True)
    scores, expected = half.score(images, masks, classes), full.score(images, masks.detach(), classes)
    assert scores.foreground_class.dtype == torch.float16
    torch.testing.assert_close(scores.foreground_class.float(), expected.foreground_class, atol=5e-3, rtol=0)
    torch.testing.assert_close(scores.background_class.float(), expected.background_class, atol=5e-3, rtol=0)
    scores.foreground_class.sum().backward()
    assert masks.grad.dtype == torch.float32 and masks.grad.abs().sum() > 0
