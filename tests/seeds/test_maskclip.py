"""MaskCLIP's value path, prompt denoising and key smoothing on hand-computed cases, and its maps."""

import math

import numpy as np
import pytest
import torch
from seed_helpers import tiny_clip, unit_rows

from wsss.seeds.maskclip import MaskClipSettings, denoise_prompts, maskclip_maps, smooth_with_keys, value_path


def test_the_value_path_is_the_last_block_with_each_token_attending_only_to_itself():
    # Attention restricted to the diagonal returns out_proj(v) per token: MaskCLIP's value path,
    # with the block's residual and MLP, then ln_post and proj.
    model = tiny_clip(layers=2)
    visual, block = model.visual, model.visual.transformer.resblocks[-1]
    x = torch.randn(1 + 6, 2, 64)
    diagonal = torch.full((7, 7), float("-inf")).fill_diagonal_(0)
    with torch.no_grad():
        features, keys = value_path(model, x)
        block.attn_mask = diagonal
        expected = visual.ln_post(block(x).transpose(0, 1)[:, 1:]) @ visual.proj
        block.attn_mask = None
    assert features.shape == (2, 6, 32) and keys.shape == (2, 6, 64)
    assert torch.allclose(features, expected, atol=1e-5)


def test_prompt_denoising_drops_categories_never_confident_anywhere():
    # temperature 1; patch 0 softmax [e^5, 1, 1] / (e^5 + 2) = [0.987, 0.0066, 0.0066], patch 1 all 1/3:
    # categories 1 and 2 peak at 1/3 < 0.5 -> -100 everywhere; category 0 peaks at 0.987 and stays.
    scores = torch.tensor([[[5.0, 0.0, 0.0], [0.0, 0.0, 0.0]]])
    expected = torch.tensor([[[5.0, -100.0, -100.0], [0.0, -100.0, -100.0]]])
    assert torch.equal(denoise_prompts(scores, 0.5, temperature=1.0), expected)


def test_key_smoothing_replaces_unsure_patches_by_the_key_weighted_sum():
    # keys [[1], [1]] unit along the patches: [1, 1] / sqrt 2 -> K K^T = [[0.5, 0.5], [0.5, 0.5]];
    # patch 0 (top 0.9 >= 0.8) is kept, patch 1 (top 0.7) becomes 0.5 [0.9, 0.1] + 0.5 [0.3, 0.7].
    probabilities = torch.tensor([[[0.9, 0.1], [0.3, 0.7]]])
    keys = torch.tensor([[[1.0], [1.0]]])
    assert torch.allclose(smooth_with_keys(probabilities, keys, 0.8), torch.tensor([[[0.9, 0.1], [0.6, 0.4]]]))
    # unit per patch: K K^T = ones -> patch 1 becomes [1.2, 0.8]
    per_patch = smooth_with_keys(probabilities, keys, 0.8, unit_over_patches=False)
    assert torch.allclose(per_patch, torch.tensor([[[0.9, 0.1], [1.2, 0.8]]]))


@pytest.mark.parametrize(
    "settings",
    [
        MaskClipSettings(),
        MaskClipSettings(key_smoothing=False, prompt_denoising=False),
        MaskClipSettings(score_all_classes=False, keys_unit_over_patches=False),
    ],
)
def test_maps_are_in_0_1_per_present_class_and_batching_changes_nothing(settings):
    model = tiny_clip(layers=2)
    images = np.random.default_rng(0).integers(0, 256, (3, 37, 50, 3), dtype=np.uint8)
    keys = [np.array([0, 2]), np.array([], dtype=np.int64), np.array([3])]
    classes, background = unit_rows(4, 1), unit_rows(3, 2)
    out = maskclip_maps(model, images, keys, classes, background, settings)
    quarter = (math.ceil(37 / 4), math.ceil(50 / 4))
    assert [(f.shape, s.shape) for f, s in out] == [((k, 37, 50), (k, *quarter)) for k in (2, 0, 1)]
    for full, small in out:
        assert full.dtype == small.dtype == np.float32
        assert ((full >= 0) & (full <= 1)).all() and ((small >= 0) & (small <= 1)).all()
    for index in (0, 2):
        alone = maskclip_maps(model, images[index : index + 1], keys[index : index + 1], classes, background, settings)
        assert np.allclose(alone[0][0], out[index][0], rtol=0, atol=1e-5)
