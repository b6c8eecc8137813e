# Phase 1, data: the run's effective config recorded, the published datasets (or a folder of photos)
# turned into the VOC layout, their files listed for the rules that read them, and every dataset checked.


rule write_config:
    output:
        output=f"{RESULTS}/config.yaml",
    log:
        log_path("write_config"),
    benchmark:
        benchmark_path("write_config")
    localrule: True
    conda:
        CONDA_ENV
    resources:
        **RESOURCES["write_config"],
    params:
        config=config,
    script:
        "../stages/write_config.py"


# A prepared dataset and its summary lie outside the run's results folder: a run under a new
# run_name uses them as they are, and its failure cannot delete them.
rule prepare_voc_sbd:
    input:
        voc_root=config["voc_sbd"]["voc_root"],
        sbd_root=config["voc_sbd"]["sbd_root"],
    output:
        root=directory(config["voc_sbd"]["root"]),
        summary=f"{config['voc_sbd']['root']}.summary.json",
    log:
        log_path("prepare_voc_sbd"),
    benchmark:
        benchmark_path("prepare_voc_sbd")
    conda:
        CONDA_ENV
    resources:
        **RESOURCES["prepare_voc_sbd"],
    params:
        expected_counts=config["voc_sbd"]["expected_counts"],
        convert_sbd_masks=config["voc_sbd"]["convert_sbd_masks"],
    script:
        "../stages/prepare_voc_sbd.py"


rule prepare_coco:
    input:
        coco_root=config["coco"]["coco_root"],
        manifest=DATA["manifest"],
    output:
        root=directory(config["coco"]["root"]),
        summary=f"{config['coco']['root']}.summary.json",
    log:
        log_path("prepare_coco"),
    benchmark:
        benchmark_path("prepare_coco")
    conda:
        CONDA_ENV
    threads: workflow.cores
    resources:
        **RESOURCES["prepare_coco"],
    script:
        "../stages/prepare_coco.py"


# Folder mode (config folder): the user's photos and class names made into the run's dataset, each photo
# labelled by the CLIP of clip.model (its probabilities in image_labels.tsv, its classes in Annotations/).
if FROM_FOLDER:
    if not Path(FOLDER["images"]).is_dir():
        raise WorkflowError(
            f"folder.images: {FOLDER['images']} is not a folder; point it at the folder of photos"
        )

    rule prepare_folder:
        input:
            images=FOLDER["images"],
            clip_weights=clip_checkpoint_input(CLIP["model"]),
        output:
            root=directory(DATA["root"]),
            manifest=DATA["manifest"],
            labels=f"{RESULTS}/dataset/image_labels.json",
        log:
            log_path("prepare_folder"),
        benchmark:
            benchmark_path("prepare_folder")
        conda:
            CONDA_ENV
        threads: workflow.cores
        resources:
            **RESOURCES["prepare_folder"],
        params:
            **{key: value for key, value in FOLDER.items() if key != "images"},
            # A name or a path; a function because, as a path, it repeats the clip_weights input.
            clip_model=lambda wildcards: CLIP["model"],
            clip_download_root=CLIP["download_root"],
        script:
            "../stages/prepare_folder.py"


rule list_dataset:
    input:
        root=DATA["root"],
        manifest=DATA["manifest"],
    output:
        listing=listing_path(LISTINGS, "{split}", "{part}"),
    log:
        log_path("list_dataset_{split}_{part}"),
    benchmark:
        benchmark_path("list_dataset_{split}_{part}")
    localrule: True
    conda:
        CONDA_ENV
    resources:
        **RESOURCES["list_dataset"],
    params:
        split=lambda wildcards: wildcards.split,
        part=lambda wildcards: wildcards.part,
    script:
        "../stages/list_dataset.py"


# Each split checked on its own, so an edit in one split reruns only its check (and what reads it).
rule check_dataset:
    input:
        lambda wildcards: dataset_files([wildcards.split], PARTS),
        root=DATA["root"],
        manifest=DATA["manifest"],
    output:
        summary=f"{RESULTS}/dataset/checked/{{split}}.json",
    log:
        log_path("check_dataset_{split}"),
    benchmark:
        benchmark_path("check_dataset_{split}")
    conda:
        CONDA_ENV
    threads: workflow.cores
    resources:
        **RESOURCES["check_dataset"],
    params:
        splits=lambda wildcards: [wildcards.split],
    script:
        "../stages/check_dataset.py"


rule summarize_dataset:
    input:
        checks=expand(f"{RESULTS}/dataset/checked/{{split}}.json", split=DATASET_SPLITS),
    output:
        summary=f"{RESULTS}/dataset/summary.json",
    log:
        log_path("summarize_dataset"),
    benchmark:
        benchmark_path("summarize_dataset")
    localrule: True
    conda:
        CONDA_ENV
    resources:
        **RESOURCES["summarize_dataset"],
    script:
        "../stages/summarize_dataset.py"
