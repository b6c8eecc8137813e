"""The frozen CLIP that CLIMS uses to score CAM-masked images against text.

One code path for every model: OpenAI names (``ViT-B/16``, ``RN50``, ...) and local
checkpoint files both go through ``clip.load``; the demo CLIP is saved as a TorchScript archive
like OpenAI's, so it loads the same way. The model is frozen (no parameter requires grad, eval
mode): gradients flow only into the masked images. Text features are encoded once. Its weights
and autocast dtype are the caller's choice (see :func:`wsss.device.precision_plan`).
"""

from __future__ import annotations

import os
import urllib.error
import warnings
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F

from wsss.data.training_data import normalize_imagenet
from wsss.device import autocast, channels_last

CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)


class ClipLoadError(RuntimeError):
    """The CLIP weights are missing, corrupt or unknown; the message says what to do."""


def openai_clip():
    """OpenAI's ``clip`` package (model definitions, tokenizer, ``load``), imported on first use
    without the deprecation warning it raises on import."""
    with warnings.catch_warnings():  # openai-clip imports pkg_resources, which warns on import
        warnings.simplefilter("ignore")
        import clip
    return clip


def load_clip(model: str, device: str | torch.device = "cpu", download_root: str | os.PathLike | None = None):
    """Load a CLIP by OpenAI model name or checkpoint path through ``clip.load`` (non-JIT)."""
    clip = openai_clip()
    names = clip.available_models()
    if model in names:
        root = Path(download_root or Path.home() / ".cache" / "clip")
        target = root / os.path.basename(clip.clip._MODELS[model])
        hint = (
            f"place the official '{model}' weights at {target} (download {clip.clip._MODELS[model]} "
            f"on a machine with internet access), or set clip.download_root to the folder holding them"
        )
    elif Path(model).is_file():
        target, hint = Path(model), "re-create it (for the demo CLIP: snakemake -R train_demo_clip)"
    else:
        raise ClipLoadError(
            f"CLIP model {model!r} is neither a known model name ({', '.join(names)}) nor an existing checkpoint file"
        )
    try:
        loaded, _ = clip.load(
            model if model in names else str(target), device=device, jit=False, download_root=str(target.parent)
        )
    except (urllib.error.URLError, ConnectionError, TimeoutError, OSError) as exc:
        raise ClipLoadError(f"cannot obtain CLIP weights {target} ({exc}): {hint}") from None
    except (RuntimeError, EOFError, KeyError, ValueError, AssertionError) as exc:
        raise ClipLoadError(
            f"{target} is not a readable CLIP TorchScript checkpoint ({type(exc).__name__}: {exc}): {hint}"
        ) from None
    return loaded


def export_torchscript(model: torch.nn.Module, path: str, dtype: torch.dtype = torch.float32) -> None:
    """Save ``model`` as a traced TorchScript archive, the format of OpenAI's CLIP checkpoints
    (OpenAI's files hold fp16 weights: ``dtype=torch.float16``)."""
    clip = openai_clip()
    model = model.float().cpu().eval()
    resolution = model.visual.input_resolution
    example = (
        torch.zeros(2, 3, resolution, resolution),
        clip.tokenize(["a photo.", "a photo of nothing."], context_length=model.context_length),
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        traced = torch.jit.trace(model, example)
    torch.jit.save(traced.to(dtype), path)


def cast_clip(model: torch.nn.Module, dtype: torch.dtype) -> torch.nn.Module:
    """fp32, or fp16 as clip.load leaves a model on CUDA: only convolution, linear, attention and
    projection weights in fp16 (LayerNorm and embeddings stay fp32; CLIP's LayerNorm computes in fp32)."""
    if dtype not in (torch.float32, torch.float16):
        raise ValueError(f"CLIP runs in float32 or float16, not {dtype}")
    model.float()
    if dtype == torch.float16:
        openai_clip().model.convert_weights(model)
    return model


def freeze(model: torch.nn.Module) -> torch.nn.Module:
    """Eval mode and no parameter gradients: the frozen model costs no weight-gradient work."""
    model.eval()
    for parameter in model.parameters():
        parameter.requires_grad_(False)
    return model


@dataclass(frozen=True)
class MatchScores:
    """Cosine similarities for P positive (image, class) pairs and B background prompts."""

    foreground_class: torch.Tensor  # (P,) s(P_k * X, text_k)
    background_class: torch.Tensor  # (P,) s((1 - P_k) * X, text_k)
    foreground_backgrounds: torch.Tensor  # (P, B) s(P_k * X, background prompt b)


def prepare_clip_input(
    images: torch.Tensor, masks: torch.Tensor, resolution: int, input_mode: str = "clip"
) -> torch.Tensor:
    """Mask, resize and normalise images in [0, 1] for CLIP (see :class:`ClipScorer` for the modes)."""
    size = (resolution, resolution)
    if input_mode == "reference":
        x = F.interpolate(normalize_imagenet(images), size=size, mode="bilinear", align_corners=True)
        m = F.interpolate(masks, size=size, mode="bilinear", align_corners=True)
        return m * x
    if input_mode != "clip":
        raise ValueError(f"input_mode must be 'clip' or 'reference', got {input_mode!r}")
    mean = images.new_tensor(CLIP_MEAN).view(1, 3, 1, 1)
    std = images.new_tensor(CLIP_STD).view(1, 3, 1, 1)
    x = (
        images
        if images.shape[-2:] == size
        else F.interpolate(images, size=size, mode="bilinear", align_corners=False, antialias=True)
    )
    m = masks if masks.shape[-2:] == size else F.interpolate(masks, size=size, mode="bilinear", align_corners=False)
    return (m * x - mean) / std


class ClipScorer(torch.nn.Module):
    """Scores masked images against class and background prompts with a frozen CLIP.

    ``input_mode`` selects how images reach CLIP:

    - ``"clip"``: the [0, 1] image is masked, resized to the model's resolution (bilinear,
      antialiased) and normalised with CLIP's statistics; masked-out pixels are black.
    - ``"reference"``: as the reference implementation does it, the image is normalised with
      ImageNet statistics, resized with ``align_corners=True`` and then masked, so masked-out
      pixels are the ImageNet mean grey; CLIP's own normalisation is not applied.

    ``weight_dtype`` and ``autocast_dtype`` set CLIP's precision; the defaults are fp32 weights without
    autocast, the reference's are fp16 weights without autocast on CUDA (train_clims takes both from
    :func:`wsss.device.precision_plan`).

    Crop padding reaches CLIP in the colour the training crops were padded with (the stages'
    ``crop_padding``): the reference's mean colour is 0 here in the ``"reference"`` mode.
    """

    def __init__(
        self,
        model: torch.nn.Module,
        class_prompts: list[str],
        background_prompts: list[str],
        input_mode: str = "reference",
        weight_dtype: torch.dtype = torch.float32,
        autocast_dtype: torch.dtype | None = None,
    ):
        super().__init__()
        if input_mode not in ("clip", "reference"):
            raise ValueError(f"input_mode must be 'clip' or 'reference', got {input_mode!r}")
        # Features and scores keep the weights' dtype: fp16 weights give fp16 similarities, as in the reference.
        self.model = freeze(channels_last(cast_clip(model, weight_dtype)))
        self.weight_dtype = weight_dtype
        self.autocast_dtype = autocast_dtype
        self.input_mode = input_mode
        self.resolution = int(model.visual.input_resolution)
        self.register_buffer("class_features", self.encode_texts(class_prompts), persistent=False)
        background = (
            self.encode_texts(background_prompts)
            if background_prompts
            else torch.zeros(0, self.class_features.shape[1], dtype=weight_dtype)
        )
        self.register_buffer("background_features", background, persistent=False)

    @property
    def device(self) -> torch.device:
        return self.class_features.device

    @torch.no_grad()
    def encode_texts(self, prompts: list[str]) -> torch.Tensor:
        """L2-normalised text features (in the weights' dtype) of ``prompts`` with the real CLIP tokenizer."""
        clip = openai_clip()
        device = next(self.model.parameters()).device
        tokens = clip.tokenize(prompts, context_length=self.model.context_length).to(device)
        with autocast(device, self.autocast_dtype):
            features = self.model.encode_text(tokens)
        return F.normalize(features.to(self.weight_dtype), dim=-1)

    def prepare(self, images: torch.Tensor, masks: torch.Tensor) -> torch.Tensor:
        """Masked, resized and normalised CLIP inputs for (N, 3, H, W) images in [0, 1] and (N, 1, h, w) masks."""
        return prepare_clip_input(images, masks, self.resolution, self.input_mode)

    def encode_images(self, clip_inputs: torch.Tensor) -> torch.Tensor:
        """L2-normalised image features (in the weights' dtype) of already prepared inputs."""
        with autocast(clip_inputs.device, self.autocast_dtype):
            features = self.model.encode_image(clip_inputs)
        return F.normalize(features.to(self.weight_dtype), dim=-1)

    def score(self, images: torch.Tensor, masks: torch.Tensor, class_indices: torch.Tensor) -> MatchScores:
        """Score P positive pairs: ``images`` (P, 3, H, W) in [0, 1], ``masks`` (P, 1, h, w), ``class_indices`` (P,).

        Foreground (mask) and background (1 - mask) views go through the image encoder in one
        batch; each foreground feature serves both the class and the background prompts. No pair (a
        batch of images with no class) gives empty scores without running CLIP, which cannot take
        an empty batch.
        """
        if images.shape[0] == 0:
            empty = self.background_features.new_zeros(0)
            return MatchScores(empty, empty, self.background_features.new_zeros(0, len(self.background_features)))
        batch = torch.cat([self.prepare(images, masks), self.prepare(images, 1.0 - masks)])
        features = self.encode_images(batch)
        foreground, background = features.split(images.shape[0])
        class_text = self.class_features[class_indices]
        return MatchScores(
            foreground_class=(foreground * class_text).sum(-1),
            background_class=(background * class_text).sum(-1),
            foreground_backgrounds=foreground @ self.background_features.T,
        )
