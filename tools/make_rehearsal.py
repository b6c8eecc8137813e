"""Write the rehearsal's inputs: miniature VOC 2012 + SBD and COCO 2014 at real image sizes, a folder of
photos for folder mode (no labels; a few files that are not photos), and random-init weights in the real
formats (torchvision ResNet-50/101 files, deeplab-pytorch's Caffe ResNet-101 file, OpenAI CLIP archives,
the reference's released baseline CAM networks in IRN's layout).

    python tools/make_rehearsal.py --data data/rehearsal --weights weights/rehearsal

The torchvision ResNet files are written as torchvision publishes them; `make rehearse` then converts
them with tools/convert_imagenet_weights.py, as docs/datasets.md tells users to do with the real ones.
The deeplab-pytorch file is read as it is, as the real one. Existing outputs are kept (delete the
folders to write them again).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from wsss.data.manifest import DatasetManifest
from wsss.io import atomic_directory
from wsss.rehearsal.coco import write_coco
from wsss.rehearsal.photos import write_photo_folder
from wsss.rehearsal.voc_sbd import write_voc_sbd
from wsss.rehearsal.weights import (
    write_deeplab_caffe_resnet,
    write_openai_clip,
    write_released_cam,
    write_torchvision_resnet,
)

MANIFESTS = {"voc": "data_manifest/voc12.yaml", "coco": "data_manifest/coco14.yaml"}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default="data/rehearsal", help="folder for the miniature datasets")
    parser.add_argument("--weights", default="weights/rehearsal", help="folder for the weight files")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    data, weights = Path(args.data), Path(args.weights)
    writers = {
        data / "voc": lambda out: write_voc_sbd(
            out, list(DatasetManifest.load(MANIFESTS["voc"]).class_names), args.seed
        ),
        data / "coco": lambda out: write_coco(
            out, list(DatasetManifest.load(MANIFESTS["coco"]).class_names), args.seed
        ),
        data / "photos": lambda out: write_photo_folder(
            out, DatasetManifest.load(MANIFESTS["voc"]).num_classes, args.seed
        ),
        weights / "torchvision": lambda out: [
            write_torchvision_resnet(out / f"{depth}.pth", depth, args.seed) for depth in ("resnet50", "resnet101")
        ],
        weights / "clip": lambda out: [
            write_openai_clip(out / f"{name.replace('/', '-')}.pt", name, args.seed)
            for name in ("ViT-B/32", "ViT-B/16")
        ],
        weights / "deeplab": lambda out: write_deeplab_caffe_resnet(
            out / "deeplabv1_resnet101-imagenet.pth", "resnet101", args.seed
        ),
        weights / "released": lambda out: [
            write_released_cam(
                out / f"res50_cam_{run}.pth", DatasetManifest.load(MANIFESTS[data]).num_classes, seed=args.seed
            )
            for run, data in (("voc12", "voc"), ("coco14", "coco"))
        ],
    }
    for output, write in writers.items():
        if output.exists():
            print(f"{output}: exists, kept")
            continue
        start = time.perf_counter()
        with atomic_directory(output) as folder:
            write(folder)
        print(f"{output}: written in {time.perf_counter() - start:.1f} s")


if __name__ == "__main__":
    main()
