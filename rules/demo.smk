# The demo world and its small CLIP (only in runs on the demo world).

from wsss.demo.scenes import WorldSettings

# The world and the demo CLIP's training views are drawn from the same settings.
WORLD_SETTINGS = WorldSettings.drawing_keys(WORLD)
# The keys of demo_clip that are not the ResNet CLIP's training settings: its output, and the ViT's.
DEMO_CLIP_VIT_KEYS = ("checkpoint", "vit_checkpoint", "vit_steps", "vit_architecture")
DEMO_CLIP_TRAINING = {k: v for k, v in DEMO_CLIP.items() if k not in DEMO_CLIP_VIT_KEYS}


# The world and the demo CLIP are shared by every run that names them: their rules write nothing into a
# run's results folder, so a new run_name neither remakes them nor, failing, deletes them.
rule make_demo_world:
    output:
        root=directory(WORLD["root"]),
    log:
        log_path("make_demo_world"),
    benchmark:
        benchmark_path("make_demo_world")
    conda:
        CONDA_ENV
    threads: workflow.cores
    resources:
        **RESOURCES["make_demo_world"],
    params:
        seed=WORLD["seed"],
        split_sizes=WORLD["split_sizes"],
        world=WORLD_SETTINGS,
    script:
        "../stages/make_demo_world.py"


rule draw_demo_world:
    input:
        root=WORLD["root"],
    output:
        contact_sheet_png=report(
            f"{RESULTS}/demo_world/contact_sheet.png",
            caption="../report/contact_sheet.rst",
            category="1. Data",
        ),
    log:
        log_path("draw_demo_world"),
    benchmark:
        benchmark_path("draw_demo_world")
    localrule: True
    conda:
        CONDA_ENV
    resources:
        **RESOURCES["draw_demo_world"],
    params:
        split=next(iter(WORLD["split_sizes"])),
        sheet_images=WORLD["sheet_images"],
    script:
        "../stages/draw_demo_world.py"


rule train_demo_clip:
    output:
        checkpoint=DEMO_CLIP["checkpoint"],
        evaluation=DEMO_CLIP_EVALUATION,
    log:
        log_path("train_demo_clip"),
    benchmark:
        benchmark_path("train_demo_clip")
    conda:
        CONDA_ENV
    threads: workflow.cores
    resources:
        **RESOURCES["train_demo_clip"],
    params:
        **DEMO_CLIP_TRAINING,
        world=WORLD_SETTINGS,
    script:
        "../stages/train_demo_clip.py"


# The demo's ViT CLIP for the training-free seed sources (CLIP-ES and MaskCLIP need a ViT): the same
# training as train_demo_clip with demo_clip.vit_architecture, for demo_clip.vit_steps steps.
use rule train_demo_clip as train_demo_clip_vit with:
    output:
        checkpoint=DEMO_CLIP["vit_checkpoint"],
        evaluation=DEMO_CLIP_VIT_EVALUATION,
    log:
        log_path("train_demo_clip_vit"),
    benchmark:
        benchmark_path("train_demo_clip_vit")
    resources:
        **RESOURCES["train_demo_clip_vit"],
    params:
        **(
            DEMO_CLIP_TRAINING
            | {
                "architecture": DEMO_CLIP["vit_architecture"],
                "steps": DEMO_CLIP["vit_steps"],
            }
        ),
        world=WORLD_SETTINGS,


rule report_demo_clip:
    input:
        evaluation=DEMO_CLIP_EVALUATION,
    output:
        output=report(
            f"{RESULTS}/report/demo_clip.html",
            caption="../report/demo_clip.rst",
            category="1. Data",
        ),
    log:
        log_path("report_demo_clip"),
    benchmark:
        benchmark_path("report_demo_clip")
    localrule: True
    conda:
        CONDA_ENV
    resources:
        **RESOURCES["report_demo_clip"],
    script:
        "../stages/report_demo_clip.py"
