# The report: `snakemake --report results/<run>/report.html` collects every output flagged with
# report() (here and in the phase files), one category per phase, captions in report/*.rst. It is
# refused while a dry run of the same command would run jobs (wsss/report_check.py).

import sys

from snakemake.exceptions import WorkflowError

from wsss.report_check import asks_for_report, outdated_report

if asks_for_report(sys.argv[1:]):
    _outdated = outdated_report(sys.argv[1:])
    if _outdated:
        raise WorkflowError(f"No report for {RESULTS}: {_outdated}")


rule report_results:
    input:
        dataset_summary=f"{RESULTS}/dataset/summary.json",
        # Folder mode: the photos' CLIP labels; no masks, so none of the scores below.
        image_labels=[f"{RESULTS}/dataset/image_labels.json"] if FROM_FOLDER else [],
        clip_checks=expand(
            f"{RESULTS}/dataset/clip_classes/{{source}}.json", source=CLIP_CHECKS
        ),
        # The refinement's settings chosen by CLIP's reward (config reward.choose).
        refine_settings=[CHOSEN_REFINE_SETTINGS] if REFINE_INPUTS.get("chosen") else [],
        seeds=(
            expand(f"{RESULTS}/seeds/{{source}}.json", source=SEED_SOURCES)
            if HAS_MASKS
            else []
        ),
        label_evaluations=(
            expand(f"{RESULTS}/evaluation/{{labels}}.json", labels=LABEL_FOLDERS)
            if HAS_MASKS
            else []
        ),
        segmenter=[f"{RESULTS}/evaluation/segmenter.json"] if HAS_MASKS else [],
        histories=TRAINING_HISTORIES,
    output:
        dataset_html=report(
            f"{RESULTS}/report/dataset.html",
            caption="../report/dataset.rst",
            category="1. Data",
        ),
        seeds_html=report(
            f"{RESULTS}/report/seeds.html",
            caption="../report/seeds.rst",
            category="2. CAMs",
        ),
        seed_sweep_png=report(
            f"{RESULTS}/report/seed_sweep.png",
            caption="../report/seed_sweep.rst",
            category="2. CAMs",
        ),
        labels_html=report(
            f"{RESULTS}/report/labels.html",
            caption="../report/labels.rst",
            category="3. Refinement",
        ),
        segmenter_html=report(
            f"{RESULTS}/report/segmenter.html",
            caption="../report/segmenter.rst",
            category="4. Segmentation",
        ),
        training_png=report(
            f"{RESULTS}/report/training_curves.png",
            caption="../report/training_curves.rst",
            category="5. Run",
        ),
    log:
        log_path("report_results"),
    benchmark:
        benchmark_path("report_results")
    localrule: True
    conda:
        CONDA_ENV
    resources:
        **RESOURCES["report_results"],
    script:
        "../stages/report_results.py"


rule report_resources:
    input:
        # Everything else first, so that every other rule's benchmark file exists.
        done=[FINAL_TARGETS, rules.report_results.output],
    output:
        output=report(
            f"{RESULTS}/report/rule_resources.png",
            caption="../report/rule_resources.rst",
            category="5. Run",
        ),
    log:
        log_path("report_resources"),
    benchmark:
        benchmark_path("report_resources")
    localrule: True
    conda:
        CONDA_ENV
    resources:
        **RESOURCES["report_resources"],
    params:
        benchmarks=f"{RESULTS}/benchmarks",
    script:
        "../stages/report_resources.py"
