"""Benchmark: stages/predict.py on one large photo, downscaled or in tiles, time and peak memory.

Builds an untrained segmenter of the given architecture (the numbers do not depend on its
weights), draws a smooth width x height photo, and segments it once through the stage with the
test settings of eval_seg (the defaults), printing the stage's wall time and the process's peak
resident memory. One setting per process, so that the peaks do not mix:

    python bench/bench_predict_large.py --model deeplabv3plus --backbone resnet18 --large downscale
    python bench/bench_predict_large.py --model deeplabv2 --backbone resnet101 --large tiles --max-side 1000
"""

import argparse
import importlib.util
import resource
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from wsss.checkpoints import save_model
from wsss.models.segmenter import SegmenterSettings, build_model, settings_to_meta


def load_predict():
    path = Path(__file__).resolve().parents[1] / "stages" / "predict.py"
    spec = importlib.util.spec_from_file_location("predict_stage", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.predict


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="deeplabv3plus")
    parser.add_argument("--backbone", default="resnet18")
    parser.add_argument("--size", type=int, nargs=2, default=[4000, 3000], metavar=("WIDTH", "HEIGHT"))
    parser.add_argument("--large", default="downscale")
    parser.add_argument("--max-side", type=int, default=1000)
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="bench_predict_"))
    settings = SegmenterSettings(args.model, args.backbone, 21, tuple(f"c{i}" for i in range(20)), output_stride=16)
    save_model(folder / "segmenter.pt", build_model(settings), settings_to_meta(settings))
    width, height = args.size
    y, x = np.mgrid[0:height, 0:width]
    photo = np.stack([(x * 255 // width), (y * 255 // height), ((x + y) * 255 // (width + height))], axis=-1)
    (folder / "photos").mkdir()
    Image.fromarray(photo.astype(np.uint8)).save(folder / "photos" / "photo.jpg", quality=90)
    start = time.perf_counter()
    load_predict()(
        str(folder / "segmenter.pt"),
        str(folder / "photos"),
        str(folder / "masks"),
        large=args.large,
        max_side=args.max_side,
    )
    seconds = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    print(
        f"{args.model} {args.backbone} {width}x{height} large={args.large} max_side={args.max_side}: "
        f"{seconds:.1f} s, peak {peak:.2f} GB resident, {torch.get_num_threads()} torch threads"
    )


if __name__ == "__main__":
    main()
