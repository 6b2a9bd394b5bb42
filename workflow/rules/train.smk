# HiERO training (train.runs.<run>): one job per run, writing an official train.py checkpoint
# that a model can use (models.<name>: {type: hiero, checkpoint: <results>/train/<run>/...}).
# The resumable state lives in <results>/train/<run>/state/, which is not an output: Snakemake
# deletes a job's outputs before it runs, so a killed or failed run resumes from there when
# it runs again (`--rerun-incomplete` after a kill), as long as its inputs are unchanged.


rule train:
    """Train HiERO on the run's videos and narrations (steploc.hiero.training)."""
    input:
        unpack(train_inputs),
    output:
        checkpoint=f"{RESULTS}/train/{{run}}/checkpoint.pth",
        metrics=f"{RESULTS}/train/{{run}}/metrics.parquet",
        figure=report(
            f"{RESULTS}/report/train/{{run}}.loss.png",
            caption="../../report/train_loss.rst",
            category="Training",
            labels={"run": "{run}"},
        ),
    log:
        f"{LOGS}/train/{{run}}.log",
    benchmark:
        "benchmarks/train/{run}.tsv"
    conda:
        "../../envs/gpu.yaml"
    threads: RES["train"]["threads"]
    resources:
        gpu=train_gpus,
        mem_mb=RES["train"]["mem_mb"],
        runtime=RES["train"]["runtime"],
    params:
        run=train_run_json,
        videos=train_videos_digest,
        state_dir=train_state_dir,
        options=train_arguments,
        array_key=array_key_argument(),
        device=config["device"],
    shell:
        "python -m steploc --threads {threads} train --video-table {input.video_table:q}"
        " --features {input.features:q} {params.array_key} --narrations {input.narrations:q}"
        " {params.options}"
        " --run-name {wildcards.run:q} --run-config {params.run:q}"
        " --device {params.device:q} --state-dir {params.state_dir:q}"
        " --checkpoint-out {output.checkpoint:q} --metrics-out {output.metrics:q}"
        " --figure-out {output.figure:q} > {log:q} 2>&1"
