"""Measurement: can CLIP's reward (PnP-OVSS's kept-against-removed test) tell a class in a photo from one
that is not? If it could, it would choose folder mode's label threshold without masks.

For every photo of a folder run (every ``--every``-th) and every class whose CLIP probability reaches
``--floor``, the class's mask is the Grad-CAM of that probability on the labelling CLIP's last ResNet
stage (``--mask-threshold`` of its peak), and the reward asks whether CLIP's probability for the class is
higher with the mask kept than with it removed (:func:`wsss.evaluation.reward.kept_and_removed`, the
reward's default softmax). The photos' true labels (``--truth``, never read by the folder run) say
which pairs are real. Printed: the win rate of real and false pairs by probability band, the AUROC of each
score among the pairs that are not a photo's top class (the ones a label threshold decides), and the
labels' precision and recall for fixed thresholds and for ``split`` (:func:`split_thresholds`):

    python bench/label_reward.py --run results/demo_folder --truth data/demo_world --out label_reward.json
"""

import argparse
import json
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from wsss.data.folder_dataset import read_label_table
from wsss.data.images import read_rgb
from wsss.data.manifest import DatasetManifest
from wsss.data.voc_dataset import VOCDataset
from wsss.evaluation.reward import kept_and_removed
from wsss.io import write_json
from wsss.models.clip_scorer import ClipScorer, load_clip
from wsss.seeds.class_check import class_auroc
from wsss.seeds.clip_es import gradcam_maps
from wsss.seeds.image_labels import labels_from_probabilities, micro_precision_recall, split_thresholds

BANDS = (0.0, 0.02, 0.05, 0.1, 0.2, 0.3, 1.01)
FIXED = (0.02, 0.05, 0.1, 0.2, 0.3)


def gradcam_masks(scorer: ClipScorer, image: np.ndarray, classes: list[int], threshold: float) -> np.ndarray:
    """(len(classes), H, W) bool: Grad-CAM of each class's probability (softmax over every class and
    background word) on the CLIP ResNet's last stage, min-max normalised, above ``threshold``."""
    visual = scorer.model.visual
    if not hasattr(visual, "layer4"):
        raise SystemExit("this measurement reads a ResNet CLIP's last stage; the labelling CLIP is a ViT")
    stage = {}
    hook = visual.layer4.register_forward_hook(lambda module, inputs, output: stage.__setitem__("out", output))
    texts = torch.cat([scorer.class_features, scorer.background_features]).float()
    rgb = torch.from_numpy(image).permute(2, 0, 1)[None].float().div(255)
    inputs = scorer.prepare(rgb, torch.ones_like(rgb[:, :1])).requires_grad_(True)
    masks = []
    try:
        for key in classes:
            features = F.normalize(scorer.model.encode_image(inputs).float(), dim=-1)
            probability = (scorer.model.logit_scale.exp() * features @ texts.T).softmax(-1)[0, key]
            (gradient,) = torch.autograd.grad(probability, stage["out"])
            cam = gradcam_maps(stage["out"].detach(), gradient)[:, None]
            cam = F.interpolate(cam, size=image.shape[:2], mode="bilinear", align_corners=False)
            masks.append(cam[0, 0].numpy() > threshold)
    finally:
        hook.remove()
    return np.stack(masks)


def auroc(truth: np.ndarray, score: np.ndarray) -> float:
    return float(class_auroc(score[:, None], truth[:, None])[0])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--run", type=Path, default=Path("results/demo_folder"))
    parser.add_argument("--truth", default="data/demo_world", help="the photos' dataset, with their XML")
    parser.add_argument("--truth-manifest", default="data_manifest/demo.yaml")
    parser.add_argument("--truth-split", default="train")
    parser.add_argument("--clip", default="weights/demo_clip.pt", help="the CLIP that labelled the photos")
    parser.add_argument("--every", type=int, default=2)
    parser.add_argument("--floor", type=float, default=0.005)
    parser.add_argument("--mask-threshold", type=float, default=0.4)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    torch.manual_seed(0)
    dataset = args.run / "dataset"
    manifest = DatasetManifest.load(dataset / "manifest.yaml")
    ids, probabilities = read_label_table(dataset / "prepared" / "image_labels.tsv", manifest.class_names)
    annotated = VOCDataset(args.truth, DatasetManifest.load(args.truth_manifest), args.truth_split)
    truth = np.stack([annotated.class_labels(i) for i in ids]).astype(bool)
    scorer = ClipScorer(load_clip(args.clip), manifest.class_prompts(), manifest.background_texts(), input_mode="clip")
    pairs = []  # probability, real, top class, win
    for row in range(0, len(ids), args.every):
        image = read_rgb(dataset / "prepared" / manifest.image_dir / f"{ids[row]}{manifest.image_suffix}")
        classes = [int(k) for k in np.flatnonzero(probabilities[row] >= args.floor)]
        masks = gradcam_masks(scorer, image, classes, args.mask_threshold)
        kept, removed = kept_and_removed(scorer, image, masks, classes)
        top = int(probabilities[row].argmax())
        pairs += [(probabilities[row, k], truth[row, k], k == top, kept[j] > removed[j]) for j, k in enumerate(classes)]
    probability, real, top, win = (np.array(column) for column in zip(*pairs))
    bands = []
    for low, high in zip(BANDS, BANDS[1:]):
        inside = (probability >= low) & (probability < high)
        for is_real in (True, False):
            chosen = inside & (real == is_real)
            bands.append(
                {
                    "probability": f"[{low:g}, {high:g})",
                    "class": "real" if is_real else "false",
                    "pairs": int(chosen.sum()),
                    "win_rate": float(win[chosen].mean()) if chosen.any() else None,
                }
            )
    open_pairs = ~top
    split = split_thresholds(probabilities)
    labels = {}
    for name, thresholds in [*((f"{t:g}", t) for t in FIXED), ("split", split)]:
        labels[name] = micro_precision_recall(labels_from_probabilities(probabilities, thresholds, True), truth)
    result = {
        "run": str(args.run),
        "photos": len(range(0, len(ids), args.every)),
        "pairs": len(pairs),
        "bands": bands,
        "auroc_not_top": {
            "pairs": int(open_pairs.sum()),
            "probability": auroc(real[open_pairs], probability[open_pairs]),
            "reward_win": auroc(real[open_pairs], win[open_pairs].astype(float)),
        },
        "split_thresholds": dict(zip(manifest.class_names, map(float, split))),
        "labels": labels,
    }
    print(json.dumps(result, indent=1))
    if args.out:
        write_json(args.out, result)


if __name__ == "__main__":
    main()
