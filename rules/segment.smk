# Phase 4, segmentation: the DeepLab segmenter trained on the pseudo-labels and evaluated.


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
        split=DATA["train_split"],
    script:
        "../stages/train_seg.py"


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
        log_path("eval_seg"),
    benchmark:
        benchmark_path("eval_seg")
    conda:
        CONDA_ENV
    threads: workflow.cores
    resources:
        **RESOURCES["eval_seg"],
    params:
        **config["eval_seg"],
        split=DATA["eval_split"],
    script:
        "../stages/eval_seg.py"
