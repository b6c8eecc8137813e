"""Stage: train the DeepLab segmenter (mmsegmentation) on the pseudo-labels."""

from wsss.config import validate_section
from wsss.data.manifest import DatasetManifest
from wsss.data.voc_dataset import VOCDataset
from wsss.models.seg_training import train_segmenter
from wsss.models.segmenter import segmenter_from_config
from wsss.stage import run_stage


def train_seg(
    root: str,
    manifest: str,
    labels: str,
    checkpoint: str,
    history: str,
    cam_checkpoint: str | None = None,
    split: str = "train",
    devices: int = 1,
    threads: int = 1,
    **segmenter: object,
) -> None:
    """Train on ``split``'s images with ``labels/<id>.png``; the final weights go to ``checkpoint``.

    ``segmenter``: keys of the config's ``segmenter`` section, defined (with their defaults) by the
    schema alone; keys left out take the schema's defaults.
    ``devices`` > 1 trains in that many processes through mmengine's pytorch launcher.
    """
    section = validate_section("segmenter", segmenter, "train_seg: segmenter")
    description = DatasetManifest.load(manifest)
    settings, plan = segmenter_from_config(section, description.class_names)
    paths = dict(root=root, manifest=manifest, labels=labels, checkpoint=checkpoint, history=history)
    train_segmenter(
        VOCDataset(root, description, split),
        settings,
        plan,
        manifest_file=manifest,
        labels=labels,
        checkpoint=checkpoint,
        history=history,
        pretrained=section["pretrained"],
        cam_checkpoint=cam_checkpoint,
        resume_key={**paths, "cam_checkpoint": cam_checkpoint, "split": split, **section},
        devices=devices,
        workers=threads,
    )


if __name__ == "__main__":
    run_stage(train_seg, globals().get("snakemake"))
