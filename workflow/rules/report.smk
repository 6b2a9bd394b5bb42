# Figures for `snakemake --report`: they draw what the evaluate stage computed.


rule report_f1_per_activity:
    input:
        [metrics_outputs(m, s)[1] for m, s in EVAL_RUNS],
    output:
        report(
            f"{RESULTS}/report/f1_per_activity.png",
            caption="../../report/f1_per_activity.rst",
            category="Evaluation",
            labels={"figure": "F1 per activity"},
        ),
    log:
        f"{LOGS}/report/f1_per_activity.log",
    localrule: True
    conda:
        "../../envs/cpu.yaml"
    shell:
        "python -m steploc report-f1 --activities {input:q} --out {output:q} > {log:q} 2>&1"


rule report_timeline:
    input:
        unpack(timeline_inputs),
    output:
        report(
            f"{RESULTS}/report/timelines/{{video}}.png",
            caption="../../report/timeline.rst",
            category="Timelines",
            labels={"video": "{video}"},
        ),
    log:
        f"{LOGS}/report/timeline_{{video}}.log",
    localrule: True
    conda:
        "../../envs/cpu.yaml"
    params:
        runs=[f"{m}/{s}" for m, s in EVAL_RUNS],
    shell:
        "python -m steploc report-timeline --video {wildcards.video:q}"
        " --ground-truth {input.ground_truth:q} --runs {params.runs:q}"
        " --labels {input.labels:q} --scores {input.scores:q} --out {output:q} > {log:q} 2>&1"
