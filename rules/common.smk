# Paths, names and the dicts that rules pass to stages, built once from the validated config.

import sys

from snakemake.exceptions import WorkflowError

from wsss.clip_source import clip_checkpoint_input
from wsss.config import config_warnings
from wsss.data.file_listing import PARTS, listing_path, refresh_listing
from wsss.data.manifest import folder_manifest, folder_manifest_dict

# The software of every rule, for --use-conda (environment.post-deploy.sh adds the packages
# that compile against the installed torch: mmcv's ops, pydensecrf2 and this project).
CONDA_ENV = "../environment.yml"

RESULTS = f"{config['results_dir']}/{config['run_name']}"
DATA = config["dataset"]
WORLD = config["demo_world"]
DEMO_CLIP = config["demo_clip"]
CLIP = config["clip"]
REFINE = config["refine"]
# Folder mode (config folder): the dataset is made by prepare_folder from a folder of photos, labelled by
# CLIP; it has no ground-truth masks, so nothing is scored against them (seeds, labels, segmenter).
FOLDER = config["folder"]
FROM_FOLDER = FOLDER["images"] is not None
HAS_MASKS = not FROM_FOLDER
# The folder's classes, as the manifest prepare_folder writes, refused before any job.
if FROM_FOLDER:
    folder_manifest(FOLDER, CONFIG_SOURCE)
# Settings measured to work badly together, said before any job.
for _warning in config_warnings(config):
    print(f"warning: {_warning}", file=sys.stderr)
# The run's dataset is the demo world, written by make_demo_world (config dataset.demo_world;
# wsss.config checks that dataset.root agrees).
IS_DEMO_WORLD = DATA["demo_world"]
USES_DEMO_CLIP = CLIP["model"] == DEMO_CLIP["checkpoint"]
# The demo CLIP's zero-shot evaluation, beside it (shared, like the model, by every run that uses it).
DEMO_CLIP_EVALUATION = str(
    Path(DEMO_CLIP["checkpoint"]).with_suffix(".evaluation.json")
)

# Seed sources (config seeds): the CAM folders a run computes and scores, and the one it refines.
SEED_SOURCES = config["seeds"]["sources"]
REFINED_SOURCE = config["seeds"]["refine_from"]
REFINED_CAMS = f"{RESULTS}/cams/{REFINED_SOURCE}"
# The training-free sources (CLIP-ES, MaskCLIP) read a frozen CLIP ViT of their own (make_clip_cams).
CLIP_SEED_SOURCES = [s for s in SEED_SOURCES if s in ("clip_es", "maskclip")]
# The CLIP each seed source stands on (model, download root), checked class by class before training
# (check_clip_classes): CLIMS's clip.model, each training-free source's own.
CLIP_CHECKS = {
    source: (
        (CLIP["model"], CLIP["download_root"])
        if source == "clims"
        else (config[source]["model"], config[source]["download_root"])
    )
    for source in SEED_SOURCES
    if source != "baseline"
}
# The demo's ViT CLIP, trained here (train_demo_clip_vit) when a training-free source reads it.
USES_DEMO_CLIP_VIT = any(
    config[s]["model"] == DEMO_CLIP["vit_checkpoint"] for s in CLIP_SEED_SOURCES
)
DEMO_CLIP_VIT_EVALUATION = str(
    Path(DEMO_CLIP["vit_checkpoint"]).with_suffix(".evaluation.json")
)
# Files the reference released (config released), imported instead of made: CAM networks, the
# CLIMS CAM folder (replacing make_cam for clims) and the pseudo-label folder (replacing the refinement).
RELEASED = config["released"]
# A released file stands in for a stage only if it is there: otherwise Snakemake would quietly fall
# back to the rule it replaces (ruleorder drops a rule whose input is missing) and train it instead.
# rules/fetch.smk stops the run on those a stage reads (with every other missing input when offline).
MISSING_RELEASED = {
    _key: f"released.{_key}: {_path} does not exist; put the reference's released file there, "
    f"or set released.{_key}: null to make it here"
    for _key, _path in RELEASED.items()
    if _path and not Path(_path).exists()
}
RELEASED_CAMS = {
    model: RELEASED[f"{model}_cam"]
    for model in ("baseline", "clims")
    if RELEASED[f"{model}_cam"]
}
# The IRN route's stages (ir_label, train_irn) run unless the pseudo-labels are released.
IRN_RUNS = REFINE["method"] == "irn" and not RELEASED["pseudo_labels"]
# Stages that start from the CLIMS network's backbone take it as input (cam_checkpoint), only then.
STARTS_FROM_CLIMS = {
    "train_irn": config["irn"]["backbone_init"] == "cam",
    "train_seg": config["segmenter"]["pretrained"] == "cam",
}
CLIMS_BACKBONE = {
    stage: {"cam_checkpoint": f"{RESULTS}/models/clims_cam.pt"} if starts else {}
    for stage, starts in STARTS_FROM_CLIMS.items()
}
# The CLIMS network is made (trained or released) when make_cam computes its CAMs here or a stage
# that runs starts from its backbone.
CLIMS_NETWORK_READ = (
    ("clims" in SEED_SOURCES and not RELEASED["clims_cams"])
    or STARTS_FROM_CLIMS["train_seg"]
    or (IRN_RUNS and STARTS_FROM_CLIMS["train_irn"])
)
# The baseline network is made when CLIMS trains from it or its seeds are compared.
CAM_NETWORKS = [
    *(
        ["baseline"]
        if (CLIMS_NETWORK_READ and "clims" not in RELEASED_CAMS)
        or "baseline" in SEED_SOURCES
        else []
    ),
    *(["clims"] if CLIMS_NETWORK_READ else []),
]
# The CAM networks whose CAMs make_cam computes (released.clims_cams replaces it for clims).
COMPUTED_CAMS = [
    model
    for model in ("baseline", "clims")
    if model in SEED_SOURCES and not (model == "clims" and RELEASED["clims_cams"])
]
# The refined source's CAMs cover the training split (for the refinement) and the seed evaluation's;
# every other source's only the latter.
CAM_SPLITS = {
    source: (
        [DATA["train_split"], DATA["seed_eval_split"]]
        if source == REFINED_SOURCE
        else [DATA["seed_eval_split"]]
    )
    for source in SEED_SOURCES
}
REFINE_SPLITS = CAM_SPLITS[REFINED_SOURCE]
# Label folders written from the CLIMS CAMs: IR labels exist only on the IRN route (and not
# when the pseudo-labels are released).
LABEL_FOLDERS = ["ir_labels", "pseudo_labels"] if IRN_RUNS else ["pseudo_labels"]
LABEL_TITLES = {"ir_labels": "IR labels", "pseudo_labels": "pseudo-labels"}
# Per-image stages run as {shard} jobs (config shards), gathered into the stage's usual folder.
SHARDS = config["shards"]
SHARD_ROOT = f"{RESULTS}/shards"


# What each wildcard can be, in every rule that has it.
wildcard_constraints:
    model="baseline|clims",
    source="baseline|clims|clip_es|maskclip",
    labels="ir_labels|pseudo_labels",
    shard=r"\d+",
    part="|".join(PARTS),
    split=r"[^/.]+",


# The dataset's files as the rules see them: one listing (names, sizes, times) per split and part,
# rewritten here, at every parse, when the files no longer match it. A rule that reads a part of a
# split takes its listing as input, so an edited, added or removed image, annotation, mask or split
# file reruns exactly those rules (Snakemake alone compares only the dataset folder's time stamp).
# A dataset that a rule makes (the demo world, the prepared VOC or COCO) is listed after it is made.
LISTINGS = f"{RESULTS}/dataset/files"
DATASET_SPLITS = list(
    dict.fromkeys([DATA["train_split"], DATA["seed_eval_split"], DATA["eval_split"]])
)
for _split in DATASET_SPLITS:
    for _part in PARTS:
        _change = refresh_listing(
            listing_path(LISTINGS, _split, _part),
            DATA["root"],
            DATA["manifest"],
            _split,
            _part,
        )
        if _change:
            print(f"dataset {DATA['root']} changed: {_change}", file=sys.stderr)


def dataset_files(splits, parts=("images", "labels")):
    """The listings of ``parts`` of ``splits``: the input that reruns a rule when those files change."""
    return [listing_path(LISTINGS, split, part) for split in splits for part in parts]


def shard_paths(stage, pattern):
    """``pattern`` with ``{shard}`` filled in for each shard of ``stage`` (other wildcards kept)."""
    return expand(pattern, shard=range(SHARDS[stage]), allow_missing=True)


# Training stages on several devices (config devices): one torchrun process per GPU.
DEVICES = config["devices"]

# The CRF's background and confidence chosen without masks by CLIP's reward (config reward.choose), judged
# by the refined source's CLIP (CLIMS's for the baseline, which has none).
REWARD = config["reward"]
CHOSEN_REFINE_SETTINGS = f"{RESULTS}/settings/refine.json"
REWARD_CLIP = CLIP_CHECKS.get(REFINED_SOURCE, (CLIP["model"], CLIP["download_root"]))
REFINE_INPUTS = {
    "irn": {"irn": f"{RESULTS}/models/irn.pt"},
    "crf": {"chosen": CHOSEN_REFINE_SETTINGS} if REWARD["choose"] else {},
}[REFINE["method"]]

# Memory (MB), wall time (minutes) and GPUs that each job asks of a machine or a scheduler (GPUs
# for the stages that use CUDA: config devices for the training stages). Sized for a VOC run on one
# GPU: estimates until the rehearsal at real shapes measures them. A profile overrides any of them
# (set-resources), no rule needs editing.
SMALL = {"mem_mb": 1000, "runtime": 10}
RESOURCES = {
    "write_config": SMALL,
    "make_demo_world": {"mem_mb": 2000, "runtime": 30},
    "draw_demo_world": SMALL,
    "prepare_voc_sbd": {"mem_mb": 4000, "runtime": 60},
    "prepare_coco": {"mem_mb": 16000, "runtime": 240},
    "prepare_folder": {"mem_mb": 8000, "runtime": 120, "gpu": 1},
    "list_dataset": SMALL,
    "check_dataset": {"mem_mb": 2000, "runtime": 30},
    "summarize_dataset": SMALL,
    "check_clip_classes": {"mem_mb": 8000, "runtime": 60, "gpu": 1},
    "choose_refine_settings": {"mem_mb": 8000, "runtime": 120, "gpu": 1},
    "train_demo_clip": {"mem_mb": 4000, "runtime": 60, "gpu": 1},
    "train_demo_clip_vit": {"mem_mb": 4000, "runtime": 60, "gpu": 1},
    "report_demo_clip": SMALL,
    "import_released_cam": {"mem_mb": 4000, "runtime": 10},
    "import_released_cams": {"mem_mb": 4000, "runtime": 60},
    "import_pseudo_labels": {"mem_mb": 2000, "runtime": 30},
    "train_cam": {"mem_mb": 16000, "runtime": 240, "gpu": DEVICES["train_cam"]},
    "train_clims": {"mem_mb": 24000, "runtime": 480, "gpu": DEVICES["train_clims"]},
    "make_cam": {"mem_mb": 16000, "runtime": 240, "gpu": 1},
    "make_clip_cams": {"mem_mb": 16000, "runtime": 480, "gpu": 1},
    "gather_cams": SMALL,  # and the gathers that derive from it: gather_ir_labels, gather_pseudo_labels
    "eval_cam": {"mem_mb": 8000, "runtime": 60},
    "ir_label": {"mem_mb": 8000, "runtime": 240},
    "train_irn": {"mem_mb": 24000, "runtime": 240, "gpu": DEVICES["train_irn"]},
    # The IRN route infers edge maps on the GPU; the CRF route is CPU work.
    "make_pseudo_labels": {
        "mem_mb": 16000,
        "runtime": 480,
        "gpu": int(REFINE["method"] == "irn"),
    },
    "eval_labels": {"mem_mb": 8000, "runtime": 60},
    "preview_labels": {"mem_mb": 2000, "runtime": 10},
    "train_seg": {"mem_mb": 32000, "runtime": 720, "gpu": DEVICES["train_seg"]},
    "eval_seg": {"mem_mb": 16000, "runtime": 240, "gpu": 1},
    "gather_eval_seg": SMALL,
    "predict_folder": {"mem_mb": 16000, "runtime": 240, "gpu": 1},
    "report_results": SMALL,
    "report_resources": SMALL,
}


def log_path(name):
    """The rule's log file (``name`` may hold wildcards such as ``make_cam_{model}``)."""
    return f"{RESULTS}/logs/{name}.log"


def benchmark_path(name):
    """The rule's Snakemake benchmark table: seconds and peak memory."""
    return f"{RESULTS}/benchmarks/{name}.tsv"


# Each training stage's history (loss terms per epoch or logged iteration), for the report.
TRAINING_HISTORIES = [
    f"{RESULTS}/models/{name}.json"
    for name in [
        *(f"{model}_cam" for model in CAM_NETWORKS),
        *(["irn"] if IRN_RUNS else []),
        "segmenter",
    ]
]

# Every stage's output is a target too, not only the tables: Snakemake deletes a job's outputs when
# the job starts and makes a missing file again only when a target or a job that runs needs it, so
# after a killed `-R train_clims` it would find "Nothing to be done" with the CAM network gone. As
# targets, outputs lost to a kill are made again, and then everything made from them.
STAGE_OUTPUTS = [
    ([DEMO_CLIP["checkpoint"], DEMO_CLIP_EVALUATION] if USES_DEMO_CLIP else []),
    (
        [DEMO_CLIP["vit_checkpoint"], DEMO_CLIP_VIT_EVALUATION]
        if USES_DEMO_CLIP_VIT
        else []
    ),
    [history.removesuffix(".json") + ".pt" for history in TRAINING_HISTORIES],
    TRAINING_HISTORIES,
    expand(
        shard_paths("make_cam", f"{SHARD_ROOT}/cams/{{model}}/{{shard}}"),
        model=COMPUTED_CAMS,
    ),
    expand(
        shard_paths("make_clip_cams", f"{SHARD_ROOT}/cams/{{source}}/{{shard}}"),
        source=CLIP_SEED_SOURCES,
    ),
    expand(f"{RESULTS}/cams/{{source}}", source=SEED_SOURCES),
    shard_paths("ir_label", f"{SHARD_ROOT}/ir_labels/{{shard}}") if IRN_RUNS else [],
    (
        []
        if RELEASED["pseudo_labels"]
        else shard_paths("make_pseudo_labels", f"{SHARD_ROOT}/pseudo_labels/{{shard}}")
    ),
    expand(f"{RESULTS}/{{labels}}", labels=LABEL_FOLDERS),
    (
        shard_paths("eval_seg", f"{SHARD_ROOT}/segmenter_predictions/{{shard}}")
        if HAS_MASKS
        else []
    ),
    (
        shard_paths("eval_seg", f"{SHARD_ROOT}/segmenter_counts/{{shard}}.npz")
        if HAS_MASKS
        else []
    ),
    f"{RESULTS}/segmenter_predictions",
]

FINAL_TARGETS = [
    STAGE_OUTPUTS,
    f"{RESULTS}/config.yaml",
    f"{RESULTS}/demo_world/contact_sheet.png" if IS_DEMO_WORLD else [],
    f"{RESULTS}/dataset/summary.json",
    f"{RESULTS}/dataset/image_labels.json" if FROM_FOLDER else [],
    expand(f"{RESULTS}/dataset/clip_classes/{{source}}.json", source=CLIP_CHECKS),
    f"{RESULTS}/report/demo_clip.html" if USES_DEMO_CLIP else [],
    expand(f"{RESULTS}/{{labels}}_preview", labels=LABEL_FOLDERS),
    # Scores against the ground-truth masks, where the dataset has them.
    (
        [
            expand(f"{RESULTS}/seeds/{{source}}.json", source=SEED_SOURCES),
            expand(f"{RESULTS}/evaluation/{{labels}}.json", labels=LABEL_FOLDERS),
            f"{RESULTS}/evaluation/segmenter.json",
        ]
        if HAS_MASKS
        else []
    ),
]
