"""Dataset manifests: the small YAML file that describes a VOC-layout dataset to the pipeline."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from wsss.errors import ConfigError
from wsss.schema import read_yaml, validate_with_defaults

MANIFEST_SCHEMA = Path(__file__).parents[1] / "schemas" / "manifest.schema.yaml"


@dataclass(frozen=True)
class DatasetManifest:
    """Class names (label order), their CLIP text, background prompts and folder layout."""

    name: str
    class_names: tuple[str, ...]
    class_texts: tuple[str, ...]
    prompt_template: str
    background_prompts: tuple[str, ...]
    labels_from: str
    allow_unlabelled_images: bool
    image_dir: str
    image_suffix: str
    mask_dir: str
    annotation_dir: str
    split_dir: str
    seed_prompt_template: str
    seed_class_texts: tuple[str, ...]
    seed_background_words: tuple[str, ...]

    @property
    def num_classes(self) -> int:
        """Number of object classes (background excluded)."""
        return len(self.class_names)

    def class_prompts(self) -> list[str]:
        """CLIP prompts for the object classes, in label order."""
        return [self.prompt_template.format(text) for text in self.class_texts]

    def background_texts(self) -> list[str]:
        """CLIP prompts for the co-occurring backgrounds."""
        return [self.prompt_template.format(text) for text in self.background_prompts]

    def seed_class_prompts(self) -> list[str]:
        """Prompts of the training-free CLIP seed sources for the object classes, in label order."""
        return [self.seed_prompt_template.format(text) for text in self.seed_class_texts]

    def seed_background_prompts(self) -> list[str]:
        """Prompts of the training-free CLIP seed sources for their background words."""
        return [self.seed_prompt_template.format(word) for word in self.seed_background_words]

    def source_prompts(self, source: str) -> tuple[list[str], list[str]]:
        """The class and background prompts of seed source ``source``'s CLIP: CLIMS (and the baseline, which
        reads no CLIP) the manifest's, the training-free CLIP sources their seed_texts."""
        if source in ("baseline", "clims"):
            return self.class_prompts(), self.background_texts()
        return self.seed_class_prompts(), self.seed_background_prompts()

    @classmethod
    def from_dict(cls, data: dict, source: str = "<manifest>") -> DatasetManifest:
        """Validate ``data`` against the manifest schema and build the manifest."""
        data = validate_with_defaults(data, MANIFEST_SCHEMA, source)
        names = [c if isinstance(c, str) else c["name"] for c in data["classes"]]
        texts = [c if isinstance(c, str) else c.get("text", c["name"]) for c in data["classes"]]
        duplicated = sorted({n for n in names if names.count(n) > 1})
        if duplicated:
            raise ConfigError(f"{source}: class names listed twice: {', '.join(duplicated)}")
        if "background" in names:
            raise ConfigError(f"{source}: 'background' is label 0 and must not be listed in classes")
        seed_texts = data["seed_texts"]
        seed_class_texts = seed_texts.get("class_texts", texts)
        if len(seed_class_texts) != len(names):
            raise ConfigError(
                f"{source}: seed_texts.class_texts has {len(seed_class_texts)} texts for {len(names)} classes "
                "(one per class, in class order)"
            )
        return cls(
            name=data["name"],
            class_names=tuple(names),
            class_texts=tuple(texts),
            prompt_template=data["prompt_template"],
            background_prompts=tuple(data["background_prompts"]),
            labels_from=data["labels_from"],
            allow_unlabelled_images=data["allow_unlabelled_images"],
            image_dir=data["image_dir"],
            image_suffix=data["image_suffix"],
            mask_dir=data["mask_dir"],
            annotation_dir=data["annotation_dir"],
            split_dir=data["split_dir"],
            seed_prompt_template=seed_texts.get("prompt_template", data["prompt_template"]),
            seed_class_texts=tuple(seed_class_texts),
            seed_background_words=tuple(seed_texts.get("background_words", data["background_prompts"])),
        )

    @classmethod
    def load(cls, path: str | os.PathLike) -> DatasetManifest:
        """Read a manifest YAML file; errors name the file."""
        return cls.from_dict(read_yaml(path, "dataset manifest"), str(path))


def folder_manifest_dict(folder: Mapping) -> dict:
    """The manifest of a dataset made from a folder of photos (the config's ``folder`` section): its
    classes, prompts and background words, and the VOC layout prepare_folder writes (labels in XML, no masks).

    With ``keep_top_class`` every photo has a class; otherwise a photo with none is all background."""
    return {
        "name": folder["name"],
        "classes": folder["classes"],
        "prompt_template": folder["prompt_template"],
        "background_prompts": folder["background_words"],
        "labels_from": "annotations",
        "allow_unlabelled_images": not folder["keep_top_class"],
        "image_dir": "JPEGImages",
        "image_suffix": ".jpg",
        "annotation_dir": "Annotations",
        "split_dir": "ImageSets/Segmentation",
    }


def folder_manifest(folder: Mapping, source: str) -> DatasetManifest:
    """The checked manifest of a folder run's dataset (a class named twice, or ``background``, is refused
    naming ``source``'s folder section): the workflow's check before any job."""
    return DatasetManifest.from_dict(folder_manifest_dict(folder), f"{source}: folder")
