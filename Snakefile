# CLIMS weakly supervised semantic segmentation, as a Snakemake workflow.
#
#   rules/fetch.smk    download_archive -> unpack_voc | unpack_sbd | unpack_coco   (missing datasets)
#   rules/data.smk     prepare_voc_sbd | prepare_coco -> list_dataset -> check_dataset
#   rules/demo.smk     make_demo_world -> list_dataset, draw_demo_world, train_demo_clip   (demo world only)
#   rules/cams.smk     train_cam -> train_clims -> make_cam -> eval_cam    (CAMs and their seeds)
#                      import_released_cam: a released baseline or CLIMS network instead of training it
#                      import_released_cams: the reference's CLIMS CAM files instead of make_cam
#   rules/refine.smk   make_cam -> ir_label -> train_irn -> make_pseudo_labels   (refine: irn)
#                      make_cam -> make_pseudo_labels                            (refine: crf)
#                      import_pseudo_labels: the reference's pseudo masks instead of the refinement
#                      eval_labels, preview_labels   (IR labels and pseudo-labels scored and pictured)
#   rules/segment.smk  make_pseudo_labels -> train_seg -> eval_seg   (DeepLab, mmsegmentation)
#   rules/report.smk   tables and plots for `snakemake --report results/<run>/report.html`
#   rules/common.smk   paths, names and the final targets
#
# make_cam, ir_label, make_pseudo_labels and eval_seg run as {shard} jobs (config shards), each stage's
# shards gathered by a gather_* rule into the folder (and report) that the rules after it read.
# Every rule that reads the dataset also takes list_dataset's listings of the files it reads, so
# an edit inside the dataset reruns it (rules/common.smk).
# The rules that take a second or so (gathers, reports, listings, write_config) are local rules: a cluster
# runs them beside Snakemake instead of queueing a job for each.
#
# Parsing the workflow imports no torch (tests/workflow/test_rules.py): every `snakemake -n` reads
# these files, so they import only the config, the schema and the demo world's drawing settings.
#
# Every hyperparameter reaches its stage through params:, so changing one in the config reruns
# exactly the rules that depend on it. Library changes are not tracked: rerun with -R <rule>.

from pathlib import Path

from snakemake.utils import min_version

from wsss.config import config_source, validate_config

min_version("9.0")


# A run's config is exactly the files given with --configfile (later ones override earlier ones)
# plus the schema's defaults. Only when none is given does the demo config apply, so a real run
# never inherits a demo setting it leaves out.
if not workflow.overwrite_configfiles:

    configfile: Path(workflow.basedir) / "configs" / "demo.yaml"


# Errors name the config files (and --config) that the values came from.
CONFIG_SOURCE = config_source(
    workflow.configfiles, bool(workflow.config_settings.config)
)
config.update(validate_config(config, CONFIG_SOURCE))


report: "report/workflow.rst"


include: "rules/common.smk"
include: "rules/fetch.smk"
include: "rules/data.smk"
include: "rules/demo.smk"
include: "rules/cams.smk"
include: "rules/refine.smk"
include: "rules/segment.smk"
include: "rules/report.smk"


rule all:
    input:
        FINAL_TARGETS,
        rules.report_resources.output,
