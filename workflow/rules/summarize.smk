rule summarize:
    """Dataset Parquet summaries of one model x clustering setting (schemas: README)."""
    input:
        params="results/params.parquet",
        segments=lambda wc: [segment_path(wc.model, wc.setting, v) for v in VIDEOS],
    output:
        segments="results/summary/{model}/{setting}/segments.parquet",
        embeddings="results/summary/{model}/{setting}/step_embeddings.parquet",
        videos="results/summary/{model}/{setting}/videos.parquet",
    log:
        "logs/summarize/{model}/{setting}.log",
    localrule: True
    conda:
        "../../envs/cpu.yaml"
    shell:
        "python -m steploc summarize --params {input.params:q} --model {wildcards.model:q}"
        " --setting {wildcards.setting:q} --out-dir $(dirname {output.videos:q})"
        " {input.segments:q} > {log:q} 2>&1"
