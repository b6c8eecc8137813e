# Phase 3, refinement: CAMs to pseudo-labels (IRN random walk or dense CRF, or the reference's released
# masks), scored and pictured.


rule ir_label:
    input:
        dataset_files(REFINE_SPLITS),
        root=DATA["root"],
        manifest=DATA["manifest"],
        cams=REFINED_CAMS,
    output:
        labels=directory(f"{SHARD_ROOT}/ir_labels/{{shard}}"),
    log:
        log_path("ir_label_{shard}"),
    benchmark:
        benchmark_path("ir_label_{shard}")
    conda:
        CONDA_ENV
    threads: workflow.cores
    resources:
        **RESOURCES["ir_label"],
    params:
        **config["ir_label"],
        splits=REFINE_SPLITS,
        crf=config["crf"],
        shard=lambda wildcards: int(wildcards.shard),
        shards=SHARDS["ir_label"],
    script:
        "../stages/ir_label.py"


use rule gather_cams as gather_ir_labels with:
    input:
        shards=shard_paths("ir_label", f"{SHARD_ROOT}/ir_labels/{{shard}}"),
    output:
        folder=directory(f"{RESULTS}/ir_labels"),
    log:
        log_path("gather_ir_labels"),
    benchmark:
        benchmark_path("gather_ir_labels")
    localrule: True


rule train_irn:
    input:
        dataset_files([DATA["train_split"]]),
        unpack(lambda wildcards: CLIMS_BACKBONE["train_irn"]),
        root=DATA["root"],
        manifest=DATA["manifest"],
        ir_labels=f"{RESULTS}/ir_labels",
    output:
        checkpoint=f"{RESULTS}/models/irn.pt",
        history=f"{RESULTS}/models/irn.json",
    log:
        log_path("train_irn"),
    benchmark:
        benchmark_path("train_irn")
    conda:
        CONDA_ENV
    threads: workflow.cores
    resources:
        **RESOURCES["train_irn"],
    params:
        **config["irn"],
        devices=DEVICES["train_irn"],
        split=DATA["train_split"],
    script:
        "../stages/train_irn.py"


# The CRF's background and confidence chosen by CLIP's reward on a sample of training images (config reward),
# for make_pseudo_labels in place of the config's; where masks exist each candidate's mIoU is shown beside.
rule choose_refine_settings:
    input:
        dataset_files(REFINE_SPLITS[:1], PARTS if HAS_MASKS else ("images", "labels")),
        root=DATA["root"],
        manifest=DATA["manifest"],
        cams=REFINED_CAMS,
        clip_weights=clip_checkpoint_input(REWARD_CLIP[0]),
    output:
        report=CHOSEN_REFINE_SETTINGS,
    log:
        log_path("choose_refine_settings"),
    benchmark:
        benchmark_path("choose_refine_settings")
    conda:
        CONDA_ENV
    threads: workflow.cores
    resources:
        **RESOURCES["choose_refine_settings"],
    params:
        **REWARD,
        split=REFINE_SPLITS[0],
        source=REFINED_SOURCE,
        refine=REFINE,
        crf=config["crf"],
        clip_model=lambda wildcards: REWARD_CLIP[0],
        clip_download_root=REWARD_CLIP[1],
        masks=HAS_MASKS,
    script:
        "../stages/choose_refine_settings.py"


rule make_pseudo_labels:
    input:
        dataset_files(REFINE_SPLITS),
        unpack(lambda wildcards: REFINE_INPUTS),
        root=DATA["root"],
        manifest=DATA["manifest"],
        cams=REFINED_CAMS,
    output:
        labels=directory(f"{SHARD_ROOT}/pseudo_labels/{{shard}}"),
    log:
        log_path("make_pseudo_labels_{shard}"),
    benchmark:
        benchmark_path("make_pseudo_labels_{shard}")
    conda:
        CONDA_ENV
    threads: workflow.cores
    resources:
        **RESOURCES["make_pseudo_labels"],
    params:
        **REFINE,
        splits=REFINE_SPLITS,
        crf=config["crf"],
        shard=lambda wildcards: int(wildcards.shard),
        shards=SHARDS["make_pseudo_labels"],
    script:
        "../stages/make_pseudo_labels.py"


use rule gather_cams as gather_pseudo_labels with:
    input:
        shards=shard_paths(
            "make_pseudo_labels", f"{SHARD_ROOT}/pseudo_labels/{{shard}}"
        ),
    output:
        folder=directory(f"{RESULTS}/pseudo_labels"),
    log:
        log_path("gather_pseudo_labels"),
    benchmark:
        benchmark_path("gather_pseudo_labels")
    localrule: True


# The reference's released pseudo-label masks (config released.pseudo_labels), in place of the
# refinement (ir_label, train_irn, make_pseudo_labels): each <id>.png is checked against its image
# and written as this project's label PNG; eval_labels scores them, train_seg trains on them.
if RELEASED["pseudo_labels"]:

    rule import_pseudo_labels:
        input:
            dataset_files(REFINE_SPLITS),
            root=DATA["root"],
            manifest=DATA["manifest"],
            released=RELEASED["pseudo_labels"],
        output:
            labels=directory(f"{RESULTS}/pseudo_labels"),
        log:
            log_path("import_pseudo_labels"),
        benchmark:
            benchmark_path("import_pseudo_labels")
        conda:
            CONDA_ENV
        threads: workflow.cores
        resources:
            **RESOURCES["import_pseudo_labels"],
        params:
            splits=REFINE_SPLITS,
        script:
            "../stages/import_pseudo_labels.py"

    ruleorder: import_pseudo_labels > gather_pseudo_labels


rule eval_labels:
    input:
        dataset_files(REFINE_SPLITS, PARTS),
        root=DATA["root"],
        manifest=DATA["manifest"],
        labels=f"{RESULTS}/{{labels}}",
    output:
        report=f"{RESULTS}/evaluation/{{labels}}.json",
        table=f"{RESULTS}/evaluation/{{labels}}.txt",
    log:
        log_path("eval_labels_{labels}"),
    benchmark:
        benchmark_path("eval_labels_{labels}")
    conda:
        CONDA_ENV
    resources:
        **RESOURCES["eval_labels"],
    params:
        splits=REFINE_SPLITS,
        title=lambda wildcards: LABEL_TITLES[wildcards.labels],
    script:
        "../stages/eval_labels.py"


rule preview_labels:
    input:
        dataset_files([DATA["seed_eval_split"]], PARTS),
        root=DATA["root"],
        manifest=DATA["manifest"],
        labels=f"{RESULTS}/{{labels}}",
        cams=REFINED_CAMS,
    output:
        previews=report(
            directory(f"{RESULTS}/{{labels}}_preview"),
            patterns=["{name}.png"],
            caption="../report/previews.rst",
            category="3. Refinement",
            subcategory="{labels}",
        ),
    log:
        log_path("preview_labels_{labels}"),
    benchmark:
        benchmark_path("preview_labels_{labels}")
    conda:
        CONDA_ENV
    resources:
        **RESOURCES["preview_labels"],
    params:
        **config["preview"],
        split=DATA["seed_eval_split"],
    script:
        "../stages/preview_labels.py"
