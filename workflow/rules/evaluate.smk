# Scores against the ground truth, per model x setting and for the feature-free baselines
# (random, uniform; setting "baseline"), then one overall table. The ground truth goes onto
# each video's feature grid once, for every run.


rule ground_truth:
    input:
        video_table=ancient(VIDEO_TABLE_PATH),
        truth=TRUTH_FILES,
    output:
        GROUND_TRUTH_PATH,
    log:
        f"{LOGS}/ground_truth/ground_truth.log",
    localrule: True
    conda:
        "../../envs/cpu.yaml"
    params:
        annotations=annotations_json(),
        video_table=video_table_digest(),
    shell:
        "python -m steploc ground-truth --video-table {input.video_table:q}"
        " --annotations {params.annotations:q} --truth-files {input.truth:q} --out {output:q}"
        " > {log:q} 2>&1"


rule evaluate:
    input:
        unpack(evaluate_inputs),
    output:
        videos=f"{RESULTS}/metrics/{{model}}/{{setting}}/videos.parquet",
        activities=f"{RESULTS}/metrics/{{model}}/{{setting}}/activities.parquet",
        labels=f"{RESULTS}/metrics/{{model}}/{{setting}}/labels.parquet",
    log:
        f"{LOGS}/evaluate/{{model}}/{{setting}}.log",
    localrule: True
    conda:
        "../../envs/cpu.yaml"
    params:
        summary=evaluate_summary_args,
        seed=EVAL["random_seed"],
        video_table=video_table_digest(),
    shell:
        "python -m steploc evaluate --video-table {input.video_table:q}"
        " --ground-truth {input.ground_truth:q} --model {wildcards.model:q}"
        " --setting {wildcards.setting:q} {params.summary} --seed {params.seed}"
        " --videos-out {output.videos:q} --activities-out {output.activities:q}"
        " --labels-out {output.labels:q} > {log:q} 2>&1"


rule evaluate_overall:
    input:
        unpack(overall_inputs),
    output:
        parquet=f"{RESULTS}/metrics/overall.parquet",
        csv=report(
            f"{RESULTS}/report/overall.csv",
            caption="../../report/overall.rst",
            category="Evaluation",
            labels={"table": "overall"},
        ),
    log:
        f"{LOGS}/evaluate/overall.log",
    localrule: True
    conda:
        "../../envs/cpu.yaml"
    params:
        activity_level=activity_level_argument,
    shell:
        "python -m steploc evaluate-overall --out {output.parquet:q} --csv {output.csv:q}"
        " --videos {input.videos:q} {params.activity_level} > {log:q} 2>&1"
