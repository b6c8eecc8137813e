# CLIMS weakly supervised semantic segmentation, as a Snakemake workflow.
#
#   make_demo_world -> check_dataset -> (train_cam -> train_clims -> make_cam -> eval_cam
#   -> ir_label -> train_irn -> make_pseudo_labels -> train_seg -> eval_seg: added stage by stage)
#
# Every hyperparameter reaches its stage through params:, so changing one in the config reruns
# exactly the rules that depend on it. Library changes are not tracked: rerun with -R <rule>.

from wsss.config import validate_config


configfile: "configs/demo.yaml"


config.update(validate_config(config, "run config"))

RESULTS = f"{config['results_dir']}/{config['run_name']}"
DATA = config["dataset"]
WORLD = config["demo_world"]


rule all:
    input:
        f"{RESULTS}/demo_world/contact_sheet.png" if DATA["root"] == WORLD["root"] else [],
        f"{RESULTS}/dataset/summary.json",


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
