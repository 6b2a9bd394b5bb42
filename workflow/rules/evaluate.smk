# Scores against the annotated step times, per model x setting and for the feature-free
# baselines (random, uniform; setting "baseline"), then one overall table.


rule evaluate:
    input:
        unpack(evaluate_inputs),
    output:
        videos="results/metrics/{model}/{setting}/videos.parquet",
        activities="results/metrics/{model}/{setting}/activities.parquet",
    log:
        "logs/evaluate/{model}/{setting}.log",
    params:
        summary=evaluate_summary_args,
        seed=EVAL["random_seed"],
        invalid_steps=INVALID_STEPS,
    localrule: True
    conda:
        "../../envs/cpu.yaml"
    shell:
        "python -m steploc evaluate --params {input.params:q} --steps {input.steps:q}"
        " --model {wildcards.model:q} --setting {wildcards.setting:q} {params.summary}"
        " --seed {params.seed} --invalid-steps {params.invalid_steps}"
        " --out-dir $(dirname {output.videos:q}) > {log:q} 2>&1"


rule evaluate_overall:
    input:
        [f"results/metrics/{m}/{s}/videos.parquet" for m, s in EVAL_RUNS],
    output:
        parquet="results/metrics/overall.parquet",
        csv=report(
            "results/report/overall.csv",
            caption="../../report/overall.rst",
            category="Evaluation",
            labels={"table": "overall"},
        ),
    log:
        "logs/evaluate/overall.log",
    localrule: True
    conda:
        "../../envs/cpu.yaml"
    shell:
        "python -m steploc evaluate-overall --out {output.parquet:q} --csv {output.csv:q}"
        " {input:q} > {log:q} 2>&1"


rule report_f1_per_activity:
    input:
        [f"results/metrics/{m}/{s}/activities.parquet" for m, s in EVAL_RUNS],
    output:
        report(
            "results/report/f1_per_activity.png",
            caption="../../report/f1_per_activity.rst",
            category="Evaluation",
            labels={"figure": "F1 per recipe"},
        ),
    log:
        "logs/report/f1_per_activity.log",
    localrule: True
    conda:
        "../../envs/cpu.yaml"
    shell:
        "python -m steploc report-figures --activities {input:q} --f1-png {output:q}"
        " > {log:q} 2>&1"


rule report_timeline:
    input:
        unpack(timeline_inputs),
    output:
        report(
            "results/report/timelines/{video}.png",
            caption="../../report/timeline.rst",
            category="Timelines",
            labels={"video": "{video}"},
        ),
    log:
        "logs/report/timeline_{video}.log",
    params:
        runs=[f"{m}/{s}" for m, s in EVAL_RUNS],
        seed=EVAL["random_seed"],
        invalid_steps=INVALID_STEPS,
    localrule: True
    conda:
        "../../envs/cpu.yaml"
    shell:
        "python -m steploc report-figures --params {input.params:q} --steps {input.steps:q}"
        " --runs {params.runs:q} --seed {params.seed} --invalid-steps {params.invalid_steps}"
        " --timelines {output:q} > {log:q} 2>&1"
