"""The CLIP ViT tower on patch-multiple images: positional embeddings, CLIP-ES's input, the blocks."""

import numpy as np
import pytest
import torch
from PIL import Image
from seed_helpers import tiny_clip
from torchvision import transforms

from wsss.seeds.clip_vit import forward_to_last_block, interpolate_positional_embedding, resize_to_patch_multiple


def test_an_unchanged_grid_keeps_the_embedding_and_the_fp16_switch_only_rounds_it():
    embedding = torch.randn(1 + 3 * 3, 5)
    assert torch.equal(interpolate_positional_embedding(embedding, (3, 3), through_fp16=False), embedding)
    rounded = interpolate_positional_embedding(embedding, (3, 3))
    assert rounded.dtype == torch.float32 and torch.equal(rounded, embedding.half().float())
    assert not torch.equal(rounded, embedding)


def test_a_2x2_grid_resized_to_4x4_bilinearly_without_corner_alignment():
    # One channel [[0, 4], [8, 12]]; align_corners False samples 1-d [a, b] at -0.25, 0.25, 0.75, 1.25
    # (clamped): a, 0.75a + 0.25b, 0.25a + 0.75b, b. Rows: [0, 1, 3, 4] + 8 * [0, 0.25, 0.75, 1].
    embedding = torch.tensor([[-1.0], [0.0], [4.0], [8.0], [12.0]])
    out = interpolate_positional_embedding(embedding, (4, 4), through_fp16=False)
    expected = torch.tensor([0.0, 1, 3, 4])[None, :] + torch.tensor([0.0, 2, 6, 8])[:, None]
    assert out[0, 0] == -1.0  # the class token's row is kept
    assert torch.allclose(out[1:, 0].view(4, 4), expected)


def test_the_fp16_switch_rounds_the_resized_embedding():
    embedding = torch.randn(1 + 2 * 2, 7)
    plain = interpolate_positional_embedding(embedding, (3, 5), through_fp16=False)
    assert plain.shape == (1 + 15, 7)
    assert torch.equal(interpolate_positional_embedding(embedding, (3, 5)), plain.half().float())


def test_images_are_resized_to_patch_multiples_as_torchvision_resizes_a_pil_image():
    image = np.random.default_rng(0).integers(0, 256, (37, 50, 3), dtype=np.uint8)
    pixels = resize_to_patch_multiple(np.stack([image, image[::-1].copy()]), 16)
    assert pixels.shape == (2, 3, 48, 64)
    reference = transforms.Compose(
        [
            transforms.Resize((48, 64), interpolation=transforms.InterpolationMode.BICUBIC),
            transforms.ToTensor(),
            transforms.Normalize((0.48145466, 0.4578275, 0.40821073), (0.26862954, 0.26130258, 0.27577711)),
        ]
    )
    assert torch.equal(pixels[0], reference(Image.fromarray(image)))
    with pytest.raises(ValueError, match="uint8 RGB"):
        resize_to_patch_multiple(image.astype(np.float32), 16)


def test_the_blocks_give_openais_tokens_and_the_asked_blocks_attention():
    model = tiny_clip(layers=4)
    visual = model.visual
    pixels = torch.randn(2, 3, 24, 40)
    with torch.no_grad():
        tokens, attentions = forward_to_last_block(visual, pixels, {1, 3}, through_fp16=False)
        # OpenAI's own route: its conv, embeddings and blocks (sequence first)
        x = visual.conv1(pixels).flatten(2).transpose(1, 2)
        x = torch.cat([visual.class_embedding.expand(2, 1, -1), x], dim=1)
        x = visual.ln_pre(x + interpolate_positional_embedding(visual.positional_embedding, (3, 5), through_fp16=False))
        x = x.transpose(0, 1)
        expected_attention = {}
        for index, block in enumerate(visual.transformer.resblocks):
            y = block.ln_1(x)
            expected_attention[index] = block.attn(y, y, y, need_weights=True)[1]
            if index < 3:
                x = block(x)
    assert torch.allclose(tokens, x, atol=1e-5)
    assert sorted(attentions) == [1, 3]
    for index in (1, 3):
        assert attentions[index].shape == (2, 16, 16)
        assert torch.allclose(attentions[index], expected_attention[index], atol=1e-6)
