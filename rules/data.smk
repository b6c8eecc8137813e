# Phase 1, data: the run's effective config recorded, the published datasets turned into the VOC
# layout, and every dataset checked.


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


rule prepare_voc_sbd:
    output:
        root=directory(config["voc_sbd"]["root"]),
        summary=f"{RESULTS}/dataset/voc_sbd.json",
    log:
        log_path("prepare_voc_sbd"),
    benchmark:
        benchmark_path("prepare_voc_sbd")
    conda:
        CONDA_ENV
    resources:
        **RESOURCES["prepare_voc_sbd"],
    params:
        voc_root=config["voc_sbd"]["voc_root"],
        sbd_root=config["voc_sbd"]["sbd_root"],
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
        summary=f"{RESULTS}/dataset/coco.json",
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


rule check_dataset:
    input:
        root=DATA["root"],
        manifest=DATA["manifest"],
    output:
        summary=f"{RESULTS}/dataset/summary.json",
    log:
        log_path("check_dataset"),
    benchmark:
        benchmark_path("check_dataset")
    conda:
        CONDA_ENV
    threads: workflow.cores
    resources:
        **RESOURCES["check_dataset"],
    params:
        splits=[DATA["train_split"], DATA["seed_eval_split"], DATA["eval_split"]],
    script:
        "../stages/check_dataset.py"
