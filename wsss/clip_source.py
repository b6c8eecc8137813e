"""Where a run's CLIP comes from, told without importing clip or torch (the workflow reads it).

``clip.model`` is an OpenAI model name, which ``clip.load`` finds under ``clip.download_root``, or
the path of a checkpoint file (the demo CLIP's, or a rehearsal's), which a rule must wait for.
Importing the ``clip`` package to ask imports torch, and with it every ``snakemake -n`` would
(seconds and a gigabyte, see tests/workflow/test_rules.py).
"""

from __future__ import annotations

# clip.available_models() of the pinned openai-clip (requirements.txt); a test checks they agree.
OPENAI_CLIP_MODELS = (
    "RN50",
    "RN101",
    "RN50x4",
    "RN50x16",
    "RN50x64",
    "ViT-B/32",
    "ViT-B/16",
    "ViT-L/14",
    "ViT-L/14@336px",
)


def openai_clip_file(model: str, download_root: str) -> str:
    """Where ``clip.load`` looks for OpenAI's ``model`` under ``download_root``: its URL's file name
    (``ViT-B/16`` -> ViT-B-16.pt, ``ViT-L/14@336px`` -> ViT-L-14-336px.pt)."""
    return f"{download_root}/{model.replace('/', '-').replace('@', '-')}.pt"


def clip_checkpoint_input(model: str) -> list[str]:
    """The checkpoint file a workflow rule must wait for: the path itself, or nothing for an OpenAI name."""
    return [] if model in OPENAI_CLIP_MODELS else [model]
