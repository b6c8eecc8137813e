# Phase 0, fetch: the published datasets downloaded and unpacked when their folders are missing
# (config fetch), and, offline (fetch.enabled false), one error before any job that lists every
# missing input, where to put it and where it comes from (wsss/data/sources.py).
#
#   download_archive -> unpack_voc | unpack_sbd -> prepare_voc_sbd
#   download_archive -> unpack_coco             -> prepare_coco
#
# The rules exist only for folders missing at parse time, so a second run (or a folder put there by
# hand) downloads nothing. Downloads are local rules: a cluster's compute nodes often have no internet.

import re

from wsss.data.sources import (
    DATASET_FOLDERS,
    dataset_sources,
    missing_clip_lines,
    missing_dataset_lines,
    missing_weight_lines,
    offline_message,
)

FETCH = config["fetch"]
SOURCES = FETCH["sources"]
# Dataset folders the run's dataset is prepared from that are not there yet.
MISSING_FOLDERS = {
    key: folder
    for key, folder in dataset_sources(config).items()
    if not Path(folder).exists()
}
# The ImageNet weights each stage that runs reads (a file, or torchvision weights by name).
PRETRAINED_READ = {
    "train_cam.pretrained": (
        config["train_cam"]["pretrained"]
        if "baseline" in CAM_NETWORKS and "baseline" not in RELEASED_CAMS
        else None
    ),
    "irn.pretrained": (
        config["irn"]["pretrained"]
        if IRN_RUNS and config["irn"]["backbone_init"] == "pretrained"
        else None
    ),
    "segmenter.pretrained": (
        None
        if config["segmenter"]["pretrained"] == "cam"
        else config["segmenter"]["pretrained"]
    ),
}
# Offline, every missing input is listed at once; online, a missing weights file fails its job as
# before (a name is fetched there), and an unknown torchvision name is refused here.
# The CLIPs the stages that run read: CLIMS's (train_clims), and each training-free source's.
CLIPS_READ = {
    **(
        {"clip.model": (CLIP["model"], CLIP["download_root"])}
        if "clims" in CAM_NETWORKS and "clims" not in RELEASED_CAMS
        else {}
    ),
    **{
        f"{source}.model": (config[source]["model"], config[source]["download_root"])
        for source in CLIP_SEED_SOURCES
    },
}
# The released files a stage reads: a CAM network that is made, CLIMS's CAMs when CLIMS is a source,
# the pseudo-labels always (they replace the refinement).
RELEASED_READ = {
    "baseline_cam": "baseline" in CAM_NETWORKS,
    "clims_cam": "clims" in CAM_NETWORKS,
    "clims_cams": "clims" in SEED_SOURCES,
    "pseudo_labels": True,
}
MISSING_RELEASED_READ = [
    line for key, line in MISSING_RELEASED.items() if RELEASED_READ[key]
]
# (The demo's CLIPs are made by its rules.)
_missing = (
    missing_weight_lines(PRETRAINED_READ)
    + missing_clip_lines(
        {
            key: (model, root)
            for key, (model, root) in CLIPS_READ.items()
            if model not in (DEMO_CLIP["checkpoint"], DEMO_CLIP["vit_checkpoint"])
        }
    )
    + MISSING_RELEASED_READ
)
if not FETCH["enabled"] and (MISSING_FOLDERS or _missing):
    raise WorkflowError(
        offline_message(missing_dataset_lines(MISSING_FOLDERS, SOURCES) + _missing)
    )
# The reference's released files cannot be fetched: a missing one stops the run online too.
if MISSING_RELEASED_READ:
    raise WorkflowError("\n".join(MISSING_RELEASED_READ))

FETCHED_FOLDERS = MISSING_FOLDERS if FETCH["enabled"] else {}
FETCHED_ARCHIVES = {
    SOURCES[name]["file"]: SOURCES[name]
    for key in FETCHED_FOLDERS
    for name in DATASET_FOLDERS[key].archives
}


if FETCHED_ARCHIVES:

    # Written as <file>.part, checked (size, md5), then renamed; deleted once its folder is unpacked.
    rule download_archive:
        output:
            archive=temp(f"{FETCH['archives']}/{{archive}}"),
        log:
            log_path("download_archive_{archive}"),
        benchmark:
            benchmark_path("download_archive_{archive}")
        wildcard_constraints:
            archive="|".join(re.escape(name) for name in FETCHED_ARCHIVES),
        localrule: True
        conda:
            CONDA_ENV
        resources:
            mem_mb=1000,
            runtime=600,
        params:
            url=lambda wildcards: FETCHED_ARCHIVES[wildcards.archive]["url"],
            size=lambda wildcards: FETCHED_ARCHIVES[wildcards.archive]["bytes"],
            md5=lambda wildcards: FETCHED_ARCHIVES[wildcards.archive]["md5"],
        script:
            "../stages/download_archive.py"


for _key, _folder in FETCHED_FOLDERS.items():
    _made = DATASET_FOLDERS[_key]

    # Unpacked beside the folder and renamed into place only when complete.
    rule:
        name:
            _made.rule
        input:
            archives=[
                f"{FETCH['archives']}/{SOURCES[name]['file']}"
                for name in _made.archives
            ],
        output:
            folder=directory(_folder),
        log:
            log_path(_made.rule),
        benchmark:
            benchmark_path(_made.rule)
        conda:
            CONDA_ENV
        resources:
            mem_mb=2000,
            runtime=240,
        params:
            inside=_made.inside,
        script:
            "../stages/unpack_dataset.py"
