# CLIMS weakly supervised semantic segmentation, as a Snakemake workflow.
#
#   make_demo_world -> check_dataset, train_demo_clip          (the demo world and its CLIP)
#   prepare_voc_sbd -> check_dataset                             (VOC 2012 + SBD: train_aug)
#   prepare_coco -> check_dataset                                (COCO 2014 in VOC layout)
#   train_cam -> train_clims -> make_cam -> eval_cam             (CAMs and their seeds)
#   make_cam -> ir_label -> train_irn -> make_pseudo_labels      (refine: irn)
#   make_cam -> make_pseudo_labels                               (refine: crf)
#   eval_labels, preview_labels                                  (IR labels and pseudo-labels scored and pictured)
#   make_pseudo_labels -> train_seg -> eval_seg                  (the DeepLab segmenter, mmsegmentation)
#
# Every hyperparameter reaches its stage through params:, so changing one in the config reruns
# exactly the rules that depend on it. Library changes are not tracked: rerun with -R <rule>.

from pathlib import Path

from wsss.models.clip_scorer import clip_checkpoint_input
from wsss.config import validate_config


# A run's config is exactly the files given with --configfile (later ones override earlier ones)
# plus the schema's defaults. Only when none is given does the demo config apply, so a real run
# never inherits a demo setting it leaves out.
if not workflow.overwrite_configfiles:

    configfile: Path(workflow.basedir) / "configs" / "demo.yaml"


config.update(validate_config(config, "run config"))

RESULTS = f"{config['results_dir']}/{config['run_name']}"
DATA = config["dataset"]
WORLD = config["demo_world"]
DEMO_CLIP = config["demo_clip"]
CLIP = config["clip"]
SEED_MODELS = ["baseline", "clims"] if config["eval_cam"]["compare_baseline"] else ["clims"]
# CLIMS CAMs feed the refinement (train split) and the seed evaluation; the baseline's only the latter.
CAM_SPLITS = {"clims": [DATA["train_split"], DATA["seed_eval_split"]], "baseline": [DATA["seed_eval_split"]]}
REFINE = config["refine"]
# Label folders written from the CLIMS CAMs: IR labels exist only on the IRN route.
LABEL_FOLDERS = {"irn": ["ir_labels", "pseudo_labels"], "crf": ["pseudo_labels"]}[REFINE["method"]]
LABEL_TITLES = {"ir_labels": "IR labels", "pseudo_labels": "pseudo-labels"}
REFINE_INPUTS = {"irn": {"irn": f"{RESULTS}/models/irn.pt"}, "crf": {}}[REFINE["method"]]


rule all:
    input:
        f"{RESULTS}/config.yaml",
        f"{RESULTS}/demo_world/contact_sheet.png" if DATA["root"] == WORLD["root"] else [],
        f"{RESULTS}/dataset/summary.json",
        f"{RESULTS}/demo_clip/evaluation.json" if CLIP["model"] == DEMO_CLIP["checkpoint"] else [],
        expand(f"{RESULTS}/seeds/{{model}}.json", model=SEED_MODELS),
        expand(f"{RESULTS}/evaluation/{{labels}}.json", labels=LABEL_FOLDERS),
        expand(f"{RESULTS}/{{labels}}_preview", labels=LABEL_FOLDERS),
        f"{RESULTS}/evaluation/segmenter.json",


rule write_config:
    output:
        output=f"{RESULTS}/config.yaml",
    log:
        f"{RESULTS}/logs/write_config.log",
    benchmark:
        f"{RESULTS}/benchmarks/write_config.tsv"
    params:
        config=config,
    script:
        "stages/write_config.py"


rule make_demo_world:
    output:
        root=directory(WORLD["root"]),
        contact_sheet_png=f"{RESULTS}/demo_world/contact_sheet.png",
    log:
        f"{RESULTS}/logs/make_demo_world.log",
    benchmark:
        f"{RESULTS}/benchmarks/make_demo_world.tsv"
    params:
        seed=WORLD["seed"],
        split_sizes=WORLD["split_sizes"],
        image_size=WORLD["image_size"],
        cooccurrence=WORLD["cooccurrence"],
        stray_background=WORLD["stray_background"],
        classes_per_image=WORLD["classes_per_image"],
        second_instance=WORLD["second_instance"],
        noise_std=WORLD["noise_std"],
        min_object_pixels=WORLD["min_object_pixels"],
        boundary_ignore=WORLD["boundary_ignore"],
        sheet_images=WORLD["sheet_images"],
    threads: workflow.cores
    script:
        "stages/make_demo_world.py"


rule prepare_voc_sbd:
    output:
        root=directory(config["voc_sbd"]["root"]),
        summary=f"{RESULTS}/dataset/voc_sbd.json",
    log:
        f"{RESULTS}/logs/prepare_voc_sbd.log",
    benchmark:
        f"{RESULTS}/benchmarks/prepare_voc_sbd.tsv"
    params:
        voc_root=config["voc_sbd"]["voc_root"],
        sbd_root=config["voc_sbd"]["sbd_root"],
        expected_counts=config["voc_sbd"]["expected_counts"],
        convert_sbd_masks=config["voc_sbd"]["convert_sbd_masks"],
    script:
        "stages/prepare_voc_sbd.py"


rule prepare_coco:
    input:
        manifest=DATA["manifest"],
    output:
        root=directory(config["coco"]["root"]),
        summary=f"{RESULTS}/dataset/coco.json",
    log:
        f"{RESULTS}/logs/prepare_coco.log",
    benchmark:
        f"{RESULTS}/benchmarks/prepare_coco.tsv"
    params:
        coco_root=config["coco"]["coco_root"],
    threads: workflow.cores
    script:
        "stages/prepare_coco.py"


rule check_dataset:
    input:
        root=DATA["root"],
        manifest=DATA["manifest"],
    output:
        summary=f"{RESULTS}/dataset/summary.json",
    log:
        f"{RESULTS}/logs/check_dataset.log",
    benchmark:
        f"{RESULTS}/benchmarks/check_dataset.tsv"
    params:
        splits=[DATA["train_split"], DATA["seed_eval_split"], DATA["eval_split"]],
    threads: workflow.cores
    script:
        "stages/check_dataset.py"


rule train_demo_clip:
    output:
        checkpoint=DEMO_CLIP["checkpoint"],
        evaluation=f"{RESULTS}/demo_clip/evaluation.json",
    log:
        f"{RESULTS}/logs/train_demo_clip.log",
    benchmark:
        f"{RESULTS}/benchmarks/train_demo_clip.tsv"
    params:
        architecture=DEMO_CLIP["architecture"],
        train_scenes=DEMO_CLIP["train_scenes"],
        eval_scenes=DEMO_CLIP["eval_scenes"],
        steps=DEMO_CLIP["steps"],
        batch_size=DEMO_CLIP["batch_size"],
        lr=DEMO_CLIP["lr"],
        seed=DEMO_CLIP["seed"],
        subset_weight=DEMO_CLIP["subset_weight"],
        calibration_weight=DEMO_CLIP["calibration_weight"],
        world={k: WORLD[k] for k in ("image_size", "cooccurrence", "stray_background", "classes_per_image", "second_instance", "noise_std", "boundary_ignore")},
    threads: workflow.cores
    script:
        "stages/train_demo_clip.py"


rule train_cam:
    input:
        root=DATA["root"],
        manifest=DATA["manifest"],
        dataset_summary=f"{RESULTS}/dataset/summary.json",
    output:
        checkpoint=f"{RESULTS}/models/baseline_cam.pt",
        history=f"{RESULTS}/models/baseline_cam.json",
    log:
        f"{RESULTS}/logs/train_cam.log",
    benchmark:
        f"{RESULTS}/benchmarks/train_cam.tsv"
    params:
        split=DATA["train_split"],
        **config["train_cam"],
    threads: workflow.cores
    script:
        "stages/train_cam.py"


rule train_clims:
    input:
        root=DATA["root"],
        manifest=DATA["manifest"],
        baseline=rules.train_cam.output.checkpoint,
        clip_weights=clip_checkpoint_input(CLIP["model"]),
    output:
        checkpoint=f"{RESULTS}/models/clims_cam.pt",
        history=f"{RESULTS}/models/clims_cam.json",
    log:
        f"{RESULTS}/logs/train_clims.log",
    benchmark:
        f"{RESULTS}/benchmarks/train_clims.tsv"
    params:
        split=DATA["train_split"],
        clip_model=CLIP["model"],
        clip_download_root=CLIP["download_root"],
        clip_input_mode=CLIP["input_mode"],
        **config["clims"],
    threads: workflow.cores
    script:
        "stages/train_clims.py"


rule make_cam:
    input:
        root=DATA["root"],
        manifest=DATA["manifest"],
        checkpoint=f"{RESULTS}/models/{{model}}_cam.pt",
    output:
        cams=directory(f"{RESULTS}/cams/{{model}}"),
    log:
        f"{RESULTS}/logs/make_cam_{{model}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/make_cam_{{model}}.tsv"
    wildcard_constraints:
        model="baseline|clims",
    params:
        splits=lambda wildcards: CAM_SPLITS[wildcards.model],
        **config["make_cam"],
    threads: workflow.cores
    script:
        "stages/make_cam.py"


rule eval_cam:
    input:
        root=DATA["root"],
        manifest=DATA["manifest"],
        cams=f"{RESULTS}/cams/{{model}}",
    output:
        report=f"{RESULTS}/seeds/{{model}}.json",
        table=f"{RESULTS}/seeds/{{model}}.txt",
    log:
        f"{RESULTS}/logs/eval_cam_{{model}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/eval_cam_{{model}}.tsv"
    params:
        split=DATA["seed_eval_split"],
        bg_threshold=config["eval_cam"]["bg_threshold"],
        sweep=config["eval_cam"]["sweep"],
    script:
        "stages/eval_cam.py"


rule ir_label:
    input:
        root=DATA["root"],
        manifest=DATA["manifest"],
        cams=f"{RESULTS}/cams/clims",
    output:
        labels=directory(f"{RESULTS}/ir_labels"),
    log:
        f"{RESULTS}/logs/ir_label.log",
    benchmark:
        f"{RESULTS}/benchmarks/ir_label.tsv"
    params:
        splits=CAM_SPLITS["clims"],
        crf=config["crf"],
        **config["ir_label"],
    threads: workflow.cores
    script:
        "stages/ir_label.py"


rule train_irn:
    input:
        root=DATA["root"],
        manifest=DATA["manifest"],
        ir_labels=f"{RESULTS}/ir_labels",
        cam_checkpoint=f"{RESULTS}/models/clims_cam.pt",
    output:
        checkpoint=f"{RESULTS}/models/irn.pt",
        history=f"{RESULTS}/models/irn.json",
    log:
        f"{RESULTS}/logs/train_irn.log",
    benchmark:
        f"{RESULTS}/benchmarks/train_irn.tsv"
    params:
        split=DATA["train_split"],
        **config["irn"],
    threads: workflow.cores
    script:
        "stages/train_irn.py"


rule make_pseudo_labels:
    input:
        unpack(lambda wildcards: REFINE_INPUTS),
        root=DATA["root"],
        manifest=DATA["manifest"],
        cams=f"{RESULTS}/cams/clims",
    output:
        labels=directory(f"{RESULTS}/pseudo_labels"),
    log:
        f"{RESULTS}/logs/make_pseudo_labels.log",
    benchmark:
        f"{RESULTS}/benchmarks/make_pseudo_labels.tsv"
    params:
        splits=CAM_SPLITS["clims"],
        crf=config["crf"],
        **REFINE,
    threads: workflow.cores
    script:
        "stages/make_pseudo_labels.py"


rule eval_labels:
    input:
        root=DATA["root"],
        manifest=DATA["manifest"],
        labels=f"{RESULTS}/{{labels}}",
    output:
        report=f"{RESULTS}/evaluation/{{labels}}.json",
        table=f"{RESULTS}/evaluation/{{labels}}.txt",
    log:
        f"{RESULTS}/logs/eval_labels_{{labels}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/eval_labels_{{labels}}.tsv"
    wildcard_constraints:
        labels="ir_labels|pseudo_labels",
    params:
        splits=CAM_SPLITS["clims"],
        title=lambda wildcards: LABEL_TITLES[wildcards.labels],
    script:
        "stages/eval_labels.py"


rule preview_labels:
    input:
        root=DATA["root"],
        manifest=DATA["manifest"],
        labels=f"{RESULTS}/{{labels}}",
        cams=f"{RESULTS}/cams/clims",
    output:
        preview=directory(f"{RESULTS}/{{labels}}_preview"),
    log:
        f"{RESULTS}/logs/preview_labels_{{labels}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/preview_labels_{{labels}}.tsv"
    wildcard_constraints:
        labels="ir_labels|pseudo_labels",
    params:
        split=DATA["seed_eval_split"],
        **config["preview"],
    script:
        "stages/preview_labels.py"


rule train_seg:
    input:
        root=DATA["root"],
        manifest=DATA["manifest"],
        labels=f"{RESULTS}/pseudo_labels",
        cam_checkpoint=f"{RESULTS}/models/clims_cam.pt",
    output:
        checkpoint=f"{RESULTS}/models/segmenter.pt",
        history=f"{RESULTS}/models/segmenter.json",
    log:
        f"{RESULTS}/logs/train_seg.log",
    benchmark:
        f"{RESULTS}/benchmarks/train_seg.tsv"
    params:
        split=DATA["train_split"],
        **config["segmenter"],
    threads: workflow.cores
    script:
        "stages/train_seg.py"


rule eval_seg:
    input:
        root=DATA["root"],
        manifest=DATA["manifest"],
        checkpoint=rules.train_seg.output.checkpoint,
    output:
        report=f"{RESULTS}/evaluation/segmenter.json",
        table=f"{RESULTS}/evaluation/segmenter.txt",
        predictions=directory(f"{RESULTS}/segmenter_predictions"),
    log:
        f"{RESULTS}/logs/eval_seg.log",
    benchmark:
        f"{RESULTS}/benchmarks/eval_seg.tsv"
    params:
        split=DATA["eval_split"],
        **config["eval_seg"],
    threads: workflow.cores
    script:
        "stages/eval_seg.py"
