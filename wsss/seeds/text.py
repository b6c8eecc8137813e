"""Text features of class and background words, as the CLIP seed sources score image features."""

from __future__ import annotations

import torch

from wsss.models.clip_scorer import openai_clip


def encode_prompts(model: torch.nn.Module, texts: list[str], template: str) -> torch.Tensor:
    """(C, D) float32 unit text features of ``template.format(text)`` for each text, as CLIP-ES's
    ``zeroshot_classifier`` makes them with one template: each prompt's feature normalised, the mean
    over the templates, normalised again (tokens of the model's context length)."""
    clip = openai_clip()
    device = model.token_embedding.weight.device
    tokens = clip.tokenize([template.format(text) for text in texts], context_length=model.context_length)
    with torch.no_grad():
        features = model.encode_text(tokens.to(device)).float()
    features = features / features.norm(dim=-1, keepdim=True)
    features = features[:, None].mean(dim=1)  # the mean over the (one) template
    return features / features.norm(dim=-1, keepdim=True)
