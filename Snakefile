# steploc: zero-shot step localisation in procedural videos.
#
# annotations + features -> video table -> hierarchy (GPU when present) per shard of videos
#   -> segment (CPU) per shard and clustering setting -> Parquet summaries
#   -> procedure steps across videos -> metrics (per video and activity level) -> report
# (optional: train -> a HiERO checkpoint, used by a model like any other checkpoint)
#
# Run: snakemake --cores N --resources gpu=1   (see README.md)

from snakemake.utils import min_version

min_version("9.0")


configfile: "config/config.yaml"


report: "report/workflow.rst"


include: "workflow/rules/common.smk"
include: "workflow/rules/train.smk"
include: "workflow/rules/hierarchy.smk"
include: "workflow/rules/segment.smk"
include: "workflow/rules/summarize.smk"
include: "workflow/rules/procedure.smk"
include: "workflow/rules/evaluate.smk"
include: "workflow/rules/report.smk"


rule all:
    default_target: True
    input:
        VIDEO_TABLE_PATH,
        all_stage_outputs(),
        all_summaries(),
        all_metrics(),
        all_procedure(),
        all_train(),
    localrule: True
