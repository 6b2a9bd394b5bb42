rule summarize:
    """Dataset Parquet summaries of one model x clustering setting (schemas: docs/outputs.md)."""
    input:
        video_table=ancient(VIDEO_TABLE_PATH),
        segments=lambda wc: [segment_outputs(wc.model, wc.setting, s)[0] for s in SHARDS],
        videos=lambda wc: [segment_outputs(wc.model, wc.setting, s)[1] for s in SHARDS],
    output:
        segments=f"{RESULTS}/summary/{{model}}/{{setting}}/segments.parquet",
        embeddings=f"{RESULTS}/summary/{{model}}/{{setting}}/step_embeddings.parquet",
        videos=f"{RESULTS}/summary/{{model}}/{{setting}}/videos.parquet",
    log:
        f"{LOGS}/summarize/{{model}}/{{setting}}.log",
    localrule: True
    conda:
        "../../envs/cpu.yaml"
    params:
        video_table=video_table_digest(),
    shell:
        "python -m steploc summarize --video-table {input.video_table:q}"
        " --segments {input.segments:q} --segment-videos {input.videos:q}"
        " --model {wildcards.model:q} --setting {wildcards.setting:q}"
        " --segments-out {output.segments:q} --embeddings-out {output.embeddings:q}"
        " --videos-out {output.videos:q} > {log:q} 2>&1"
