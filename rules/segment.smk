# Phase 4, segmentation: the DeepLab segmenter trained on the pseudo-labels and evaluated.


rule train_seg:
    input:
        dataset_files([DATA["train_split"]]),
        unpack(lambda wildcards: CLIMS_BACKBONE["train_seg"]),
        root=DATA["root"],
        manifest=DATA["manifest"],
        labels=f"{RESULTS}/pseudo_labels",
    output:
        checkpoint=f"{RESULTS}/models/segmenter.pt",
        history=f"{RESULTS}/models/segmenter.json",
    log:
        log_path("train_seg"),
    benchmark:
        benchmark_path("train_seg")
    conda:
        CONDA_ENV
    threads: workflow.cores
    resources:
        **RESOURCES["train_seg"],
    params:
        **config["segmenter"],
        devices=DEVICES["train_seg"],
        split=DATA["train_split"],
    script:
        "../stages/train_seg.py"


# Scored against the ground-truth masks, where the dataset has them.
if HAS_MASKS:

    rule eval_seg:
        input:
            dataset_files([DATA["eval_split"]], PARTS),
            root=DATA["root"],
            manifest=DATA["manifest"],
            checkpoint=rules.train_seg.output.checkpoint,
        output:
            predictions=directory(f"{SHARD_ROOT}/segmenter_predictions/{{shard}}"),
            counts=f"{SHARD_ROOT}/segmenter_counts/{{shard}}.npz",
        log:
            log_path("eval_seg_{shard}"),
        benchmark:
            benchmark_path("eval_seg_{shard}")
        conda:
            CONDA_ENV
        threads: workflow.cores
        resources:
            **RESOURCES["eval_seg"],
        params:
            **config["eval_seg"],
            split=DATA["eval_split"],
            shard=lambda wildcards: int(wildcards.shard),
            shards=SHARDS["eval_seg"],
        script:
            "../stages/eval_seg.py"

    # The shards' confusion matrices summed into one report, their predictions into one folder.
    rule gather_eval_seg:
        input:
            shard_predictions=shard_paths(
                "eval_seg", f"{SHARD_ROOT}/segmenter_predictions/{{shard}}"
            ),
            shard_counts=shard_paths(
                "eval_seg", f"{SHARD_ROOT}/segmenter_counts/{{shard}}.npz"
            ),
        output:
            report=f"{RESULTS}/evaluation/segmenter.json",
            table=f"{RESULTS}/evaluation/segmenter.txt",
            predictions=directory(f"{RESULTS}/segmenter_predictions"),
        log:
            log_path("gather_eval_seg"),
        benchmark:
            benchmark_path("gather_eval_seg")
        localrule: True
        conda:
            CONDA_ENV
        resources:
            **RESOURCES["gather_eval_seg"],
        script:
            "../stages/gather_eval_seg.py"


# Folder mode: no masks to score against, the segmenter's label maps of every photo of the folder.
else:

    rule predict_folder:
        input:
            checkpoint=rules.train_seg.output.checkpoint,
            images=DATA["root"],
        output:
            output=directory(f"{RESULTS}/segmenter_predictions"),
        log:
            log_path("predict_folder"),
        benchmark:
            benchmark_path("predict_folder")
        conda:
            CONDA_ENV
        threads: workflow.cores
        resources:
            **RESOURCES["predict_folder"],
        params:
            image_dir=folder_manifest_dict(FOLDER)["image_dir"],
            scales=config["eval_seg"]["scales"],
            fusion=config["eval_seg"]["fusion"],
            flip=config["eval_seg"]["flip"],
            crf=config["eval_seg"]["crf"],
        script:
            "../stages/predict.py"
