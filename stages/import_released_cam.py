"""Stage: a CAM network the reference released (released.baseline_cam / clims_cam) as this run's checkpoint."""

import logging

from wsss.checkpoints import save_model
from wsss.data.manifest import DatasetManifest
from wsss.errors import ConfigError
from wsss.io import write_json
from wsss.models.released_cams import BACKBONE, OUTPUT_STRIDE, read_released_cam
from wsss.stage import run_stage

log = logging.getLogger("import_released_cam")


def import_released_cam(weights: str, manifest: str, checkpoint: str, history: str, network: str) -> None:
    """Convert ``weights`` (a reference layout) into ``checkpoint``, the ``network`` (baseline or clims)
    network; ``history`` records where it came from.

    The checkpoint is the one train_cam or train_clims would write, so every later stage reads it
    as it reads a trained one; its metadata and the history carry the file's sha256 and layout.
    """
    num_classes = DatasetManifest.load(manifest).num_classes
    model, provenance = read_released_cam(weights, num_classes)
    if network == "baseline" and model.head != "classifier":
        raise ConfigError(
            f"{weights}: a {provenance['layout']} stands for the CLIMS network (released.clims_cam), "
            "not for the baseline CLIMS trains from (released.baseline_cam)"
        )
    meta = {
        "num_classes": num_classes,
        "backbone": BACKBONE,
        "output_stride": OUTPUT_STRIDE,
        "head": model.head,
        "released": provenance,
    }
    save_model(checkpoint, model, meta)
    write_json(history, {"released": provenance})
    log.info("%s (sha256 %s, %s) -> %s", weights, provenance["sha256"], provenance["layout"], checkpoint)


if __name__ == "__main__":
    run_stage(import_released_cam, globals().get("snakemake"))
