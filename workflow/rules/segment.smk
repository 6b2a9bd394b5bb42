# Clustering + smoothing + segments per shard (CPU), per model and clustering setting.
# BLAS threads are pinned to the rule's threads: on these small matrices one thread per video
# is fastest, and parallelism comes from running shards side by side.


rule segment:
    input:
        video_table=ancient(VIDEO_TABLE_PATH),
        nodes=f"{RESULTS}/hierarchy/{{model}}/{{shard}}.nodes.parquet",
        hierarchy_videos=f"{RESULTS}/hierarchy/{{model}}/{{shard}}.videos.parquet",
        features=shard_features,
    output:
        segments=f"{RESULTS}/segments/{{model}}/{{setting}}/{{shard}}.segments.parquet",
        videos=f"{RESULTS}/segments/{{model}}/{{setting}}/{{shard}}.videos.parquet",
    log:
        f"{LOGS}/segment/{{model}}/{{setting}}/{{shard}}.log",
    conda:
        "../../envs/cpu.yaml"
    threads: RES["segment"]["threads"]
    resources:
        mem_mb=RES["segment"]["mem_mb"],
        runtime=RES["segment"]["runtime"],
    params:
        setting=setting_json,
        array_key=array_key_argument(),
        inputs=segment_inputs,
        # a new release of the package reruns clustering (cheap), never the hierarchy stage
        steploc_version=steploc.__version__,
    shell:
        "python -m steploc --threads {threads} segment --video-table {input.video_table:q}"
        " --shard {wildcards.shard:q} --features {input.features:q} {params.array_key}"
        " --model-name {wildcards.model:q} --nodes {input.nodes:q}"
        " --hierarchy-videos {input.hierarchy_videos:q} --setting-name {wildcards.setting:q}"
        " --setting-json {params.setting:q} --mem-mb {resources.mem_mb}"
        " --segments-out {output.segments:q}"
        " --videos-out {output.videos:q} > {log:q} 2>&1"
