"""Benchmark: ir_label's two dense-CRF passes per image, one worker vs one per core.

Runs the stage's per-image job (read image and CAM, two CRF passes, write the PNG) over the
first N images of a split, into a temporary folder, and prints images/s and peak memory:

    python bench/bench_crf.py --root data/demo_world --manifest data_manifest/demo.yaml \\
        --cams results/demo/cams/clims --split train --images 200
"""

import argparse
import functools
import os
import resource
import tempfile
import time

from wsss.data.manifest import DatasetManifest
from wsss.parallel import map_in_processes
from wsss.refine.cam_to_labels import cam_label_jobs, write_ir_labels
from wsss.refine.crf import CRFParams


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--root", required=True)
    parser.add_argument("--manifest", required=True)
    parser.add_argument("--cams", required=True)
    parser.add_argument("--split", default="train")
    parser.add_argument("--images", type=int, default=200)
    args = parser.parse_args()

    manifest = DatasetManifest.load(args.manifest)
    work = functools.partial(write_ir_labels, fg_threshold=0.3, bg_threshold=0.1, params=CRFParams())
    cores = os.cpu_count() or 1
    for workers in dict.fromkeys([1, cores]):
        with tempfile.TemporaryDirectory() as folder:
            jobs = cam_label_jobs(args.root, manifest, [args.split], args.cams, folder)[: args.images]
            start = time.perf_counter()
            map_in_processes(work, jobs, workers)
            seconds = time.perf_counter() - start
        note = (
            f"peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**10:.0f} MB, the memory of one worker"
            if workers == 1
            else "worker start-up included"
        )
        print(
            f"{workers} worker(s): {len(jobs)} images in {seconds:.1f} s = {len(jobs) / seconds:.1f} images/s ({note})"
        )


if __name__ == "__main__":
    main()
