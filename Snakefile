# steploc: zero-shot step localisation in procedural videos.
#
# annotations + task graphs -> params table -> hierarchy (GPU when present) per video
#   -> segment (CPU) per video and clustering setting -> Parquet summaries
#
# Run: snakemake --cores N --resources gpu=1   (see README.md)

from snakemake.utils import min_version, validate

min_version("9.0")


configfile: "config/config.yaml"


report: "report/workflow.rst"


validate(config, schema="workflow/schemas/config.schema.yaml")


include: "workflow/rules/common.smk"
include: "workflow/rules/params.smk"
include: "workflow/rules/hierarchy.smk"
include: "workflow/rules/segment.smk"
include: "workflow/rules/summarize.smk"
include: "workflow/rules/evaluate.smk"


rule all:
    input:
        "results/params.parquet",
        all_per_video_outputs(),
        all_summaries(),
        all_metrics(),
    default_target: True
    localrule: True
