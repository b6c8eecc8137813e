"""Diagnostic: the CLIMS loss a frozen CLIP gives to hand-made masks on demo images with ground truth.

A CLIP that can drive CLIMS must give the true object masks the lowest loss; dilated,
half-strength, all-on or background masks must cost more. Prints the mean loss and its terms
per mask kind over the first N images of a split:

    python bench/clims_mask_sanity.py --clip weights/demo_clip.pt --root data/demo_world \
        --manifest data_manifest/demo.yaml --split val --cbs-threshold 0.3
"""

import argparse

import numpy as np
import torch
import torch.nn.functional as F

from wsss.clims.losses import clims_loss, positive_pairs
from wsss.data.images import read_label_map
from wsss.data.manifest import DatasetManifest
from wsss.data.voc_dataset import VOCDataset
from wsss.demo.scenes import BACKGROUND_OF, BACKGROUNDS
from wsss.models.clip_scorer import ClipScorer, load_clip


def mask_variants(
    truth: np.ndarray, regions: np.ndarray, classes: list[str], num_classes: int
) -> dict[str, torch.Tensor]:
    """(C, H, W) probability maps of each kind for one image."""
    objects = torch.zeros(num_classes, *truth.shape)
    cooccurring = torch.zeros_like(objects)
    for k, name in enumerate(classes):
        # The object with its 1-pixel ignore border, so no outline of it is left outside the mask.
        own = torch.from_numpy(truth == k + 1).float()
        near = torch.from_numpy((truth == k + 1) | (truth == 255)).float()
        objects[k] = F.max_pool2d(own[None, None], 3, stride=1, padding=1)[0, 0] * near
        cooccurring[k] = (
            torch.from_numpy(regions == BACKGROUNDS.index(BACKGROUND_OF[name]) + 1).float()
            if name in BACKGROUND_OF
            else 0
        )
    dilated = F.max_pool2d(objects[None], 9, stride=1, padding=4)[0]
    return {
        "true mask": objects,
        "dilated mask": dilated,
        "half-strength mask": objects * 0.5,
        "mask + co-occurring background": torch.maximum(objects, cooccurring),
        "all zeros": torch.zeros_like(objects),
        "background only": 1 - objects,
        "all ones": torch.ones_like(objects),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clip", required=True)
    parser.add_argument("--root", required=True)
    parser.add_argument("--manifest", required=True)
    parser.add_argument("--split", default="val")
    parser.add_argument("--images", type=int, default=64)
    parser.add_argument("--cbs-threshold", type=float, default=0.26)
    parser.add_argument("--input-mode", default="clip")
    args = parser.parse_args()

    manifest = DatasetManifest.load(args.manifest)
    dataset = VOCDataset(args.root, manifest, args.split)
    scorer = ClipScorer(load_clip(args.clip), manifest.class_prompts(), manifest.background_texts(), args.input_mode)
    weights = {"alpha": 10.0, "beta": 24.0, "gamma": 1.0, "delta": 0.2, "cbs_threshold": args.cbs_threshold}
    totals: dict[str, list[dict]] = {}
    for image_id in dataset.ids[: args.images]:
        image = torch.from_numpy(dataset.read_image(image_id)).permute(2, 0, 1).float()[None] / 255
        labels = torch.from_numpy(dataset.class_labels(image_id)).float()[None]
        truth = dataset.read_mask(image_id)
        regions = read_label_map(f"{args.root}/SegmentationBackground/{image_id}.png")
        image_index, class_index = positive_pairs(labels)
        for kind, maps in mask_variants(truth, regions, list(manifest.class_names), manifest.num_classes).items():
            probabilities = maps[None]
            with torch.no_grad():
                scores = scorer.score(
                    image[image_index], probabilities[image_index, class_index].unsqueeze(1), class_index
                )
                total, terms = clims_loss(scores, probabilities, **weights)
            totals.setdefault(kind, []).append({"loss": total.item(), **terms})
    print(
        f"CLIMS loss of hand-made masks, mean over {args.images} {args.split} images "
        f"(cbs threshold {args.cbs_threshold})"
    )
    print(f"{'mask':32s} {'loss':>8s} {'OTM':>7s} {'BTM':>7s} {'CBS':>7s} {'REG':>7s}")
    for kind, rows in totals.items():
        mean = {key: float(np.mean([r[key] for r in rows])) for key in rows[0]}
        print(
            f"{kind:32s} {mean['loss']:8.2f} "
            f"{mean['otm']:7.3f} {mean['btm']:7.3f} {mean['cbs']:7.3f} {mean['reg']:7.3f}"
        )


if __name__ == "__main__":
    main()
