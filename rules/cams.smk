# Phase 2, CAMs: the seed sources (config seeds), each writing cams/<source>, and their seeds.
# The trained ones: the baseline classifier, CLIMS on top of it (or either as the reference released
# it), multi-scale CAMs (or the reference's released CLIMS CAMs). The training-free ones: CLIP-ES and
# MaskCLIP straight from a frozen CLIP ViT (make_clip_cams).


# Does each seed source's CLIP know the classes? Scored first (priority), warned about by name; nothing waits
# for it, so a changed check reruns no training.
rule check_clip_classes:
    input:
        dataset_files([DATA["train_split"]]),
        root=DATA["root"],
        manifest=DATA["manifest"],
        clip_weights=lambda wildcards: clip_checkpoint_input(
            CLIP_CHECKS[wildcards.source][0]
        ),
    output:
        report=f"{RESULTS}/dataset/clip_classes/{{source}}.json",
    log:
        log_path("check_clip_classes_{source}"),
    benchmark:
        benchmark_path("check_clip_classes_{source}")
    wildcard_constraints:
        source="clims|clip_es|maskclip",
    priority: 10
    conda:
        CONDA_ENV
    threads: workflow.cores
    resources:
        **RESOURCES["check_clip_classes"],
    params:
        **config["clip_check"],
        source=lambda wildcards: wildcards.source,
        clip_model=lambda wildcards: CLIP_CHECKS[wildcards.source][0],
        clip_download_root=lambda wildcards: CLIP_CHECKS[wildcards.source][1],
        split=DATA["train_split"],
        labels_from_clip=FROM_FOLDER,
    script:
        "../stages/check_clip_classes.py"


rule train_cam:
    input:
        dataset_files([DATA["train_split"]]),
        root=DATA["root"],
        manifest=DATA["manifest"],
        dataset_summary=f"{RESULTS}/dataset/checked/{DATA['train_split']}.json",
    output:
        checkpoint=f"{RESULTS}/models/baseline_cam.pt",
        history=f"{RESULTS}/models/baseline_cam.json",
    log:
        log_path("train_cam"),
    benchmark:
        benchmark_path("train_cam")
    conda:
        CONDA_ENV
    threads: workflow.cores
    resources:
        **RESOURCES["train_cam"],
    params:
        **config["train_cam"],
        devices=DEVICES["train_cam"],
        split=DATA["train_split"],
    script:
        "../stages/train_cam.py"


rule train_clims:
    input:
        dataset_files([DATA["train_split"]]),
        root=DATA["root"],
        manifest=DATA["manifest"],
        baseline=f"{RESULTS}/models/baseline_cam.pt",  # trained (train_cam) or released
        clip_weights=clip_checkpoint_input(CLIP["model"]),
    output:
        checkpoint=f"{RESULTS}/models/clims_cam.pt",
        history=f"{RESULTS}/models/clims_cam.json",
    log:
        log_path("train_clims"),
    benchmark:
        benchmark_path("train_clims")
    conda:
        CONDA_ENV
    threads: workflow.cores
    resources:
        **RESOURCES["train_clims"],
    params:
        **config["clims"],
        devices=DEVICES["train_clims"],
        split=DATA["train_split"],
        # A name or a path; given as a function because, as a path, it repeats the clip_weights input.
        clip_model=lambda wildcards: CLIP["model"],
        clip_download_root=CLIP["download_root"],
        clip_input_mode=CLIP["input_mode"],
    script:
        "../stages/train_clims.py"


# A CAM network the reference released (config released), in place of train_cam or train_clims: the
# rule that trains it is then not run, and every later stage reads the converted checkpoint.
if RELEASED_CAMS:

    rule import_released_cam:
        input:
            weights=lambda wildcards: RELEASED_CAMS[wildcards.model],
            manifest=DATA["manifest"],
        output:
            checkpoint=f"{RESULTS}/models/{{model}}_cam.pt",
            history=f"{RESULTS}/models/{{model}}_cam.json",
        log:
            log_path("import_released_cam_{model}"),
        benchmark:
            benchmark_path("import_released_cam_{model}")
        wildcard_constraints:
            model="|".join(RELEASED_CAMS),
        conda:
            CONDA_ENV
        resources:
            **RESOURCES["import_released_cam"],
        params:
            network=lambda wildcards: wildcards.model,
        script:
            "../stages/import_released_cam.py"

    ruleorder: import_released_cam > train_cam
    ruleorder: import_released_cam > train_clims


rule make_cam:
    input:
        lambda wildcards: dataset_files(CAM_SPLITS[wildcards.model]),
        root=DATA["root"],
        manifest=DATA["manifest"],
        checkpoint=f"{RESULTS}/models/{{model}}_cam.pt",
    output:
        cams=directory(f"{SHARD_ROOT}/cams/{{model}}/{{shard}}"),
    log:
        log_path("make_cam_{model}_{shard}"),
    benchmark:
        benchmark_path("make_cam_{model}_{shard}")
    conda:
        CONDA_ENV
    threads: workflow.cores
    resources:
        **RESOURCES["make_cam"],
    params:
        **config["make_cam"],
        splits=lambda wildcards: CAM_SPLITS[wildcards.model],
        shard=lambda wildcards: int(wildcards.shard),
        shards=SHARDS["make_cam"],
    script:
        "../stages/make_cam.py"


# CLIP-ES or MaskCLIP seeds (the {source} wildcard) from a frozen CLIP ViT: no network is trained,
# each image's classes are read from its labels, and the CAM files have make_cam's format.
rule make_clip_cams:
    input:
        lambda wildcards: dataset_files(CAM_SPLITS[wildcards.source]),
        root=DATA["root"],
        manifest=DATA["manifest"],
        clip_weights=lambda wildcards: clip_checkpoint_input(
            config[wildcards.source]["model"]
        ),
    output:
        cams=directory(f"{SHARD_ROOT}/cams/{{source}}/{{shard}}"),
    log:
        log_path("make_clip_cams_{source}_{shard}"),
    benchmark:
        benchmark_path("make_clip_cams_{source}_{shard}")
    wildcard_constraints:
        source="clip_es|maskclip",
    conda:
        CONDA_ENV
    threads: workflow.cores
    resources:
        **RESOURCES["make_clip_cams"],
    params:
        source=lambda wildcards: wildcards.source,
        settings=lambda wildcards: config[wildcards.source],
        splits=lambda wildcards: CAM_SPLITS[wildcards.source],
        shard=lambda wildcards: int(wildcards.shard),
        shards=SHARDS["make_clip_cams"],
    script:
        "../stages/make_clip_cams.py"


# The stage that writes each source's CAM shards.
CAM_SHARDS = {"baseline": "make_cam", "clims": "make_cam"} | {
    source: "make_clip_cams" for source in ("clip_es", "maskclip")
}


# A sharded stage's shards joined into its usual folder: gather_ir_labels and gather_pseudo_labels
# (rules/refine.smk) are this rule with their own shards, folder, log and benchmark (and localrule
# again: `use rule` does not carry it over, snakemake/snakemake#2892).
rule gather_cams:
    input:
        shards=lambda wildcards: shard_paths(
            CAM_SHARDS[wildcards.source],
            f"{SHARD_ROOT}/cams/{wildcards.source}/{{shard}}",
        ),
    output:
        folder=directory(f"{RESULTS}/cams/{{source}}"),
    log:
        log_path("gather_cams_{source}"),
    benchmark:
        benchmark_path("gather_cams_{source}")
    localrule: True
    conda:
        CONDA_ENV
    resources:
        **RESOURCES["gather_cams"],
    script:
        "../stages/gather_shards.py"


# The reference's released CLIMS CAM files (config released.clims_cams), in place of make_cam and
# gather_cams for clims: each <id>.npy is read without running its pickle, checked against its image
# and written in this project's CAM format.
if RELEASED["clims_cams"] and "clims" in SEED_SOURCES:

    rule import_released_cams:
        input:
            dataset_files(CAM_SPLITS["clims"]),
            root=DATA["root"],
            manifest=DATA["manifest"],
            released=RELEASED["clims_cams"],
        output:
            cams=directory(f"{RESULTS}/cams/clims"),
        log:
            log_path("import_released_cams"),
        benchmark:
            benchmark_path("import_released_cams")
        conda:
            CONDA_ENV
        threads: workflow.cores
        resources:
            **RESOURCES["import_released_cams"],
        params:
            splits=CAM_SPLITS["clims"],
        script:
            "../stages/import_released_cams.py"

    ruleorder: import_released_cams > gather_cams


rule eval_cam:
    input:
        dataset_files([DATA["seed_eval_split"]], PARTS),
        root=DATA["root"],
        manifest=DATA["manifest"],
        cams=f"{RESULTS}/cams/{{source}}",
    output:
        report=f"{RESULTS}/seeds/{{source}}.json",
        table=f"{RESULTS}/seeds/{{source}}.txt",
    log:
        log_path("eval_cam_{source}"),
    benchmark:
        benchmark_path("eval_cam_{source}")
    conda:
        CONDA_ENV
    resources:
        **RESOURCES["eval_cam"],
    params:
        split=DATA["seed_eval_split"],
        bg_threshold=config["eval_cam"]["bg_threshold"],
        sweep=config["eval_cam"]["sweep"],
        alphas=config["eval_cam"]["alphas"],
        source=lambda wildcards: wildcards.source,
    script:
        "../stages/eval_cam.py"
