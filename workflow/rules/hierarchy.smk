# Node features per shard of videos (the GPU stage). A shard is one job's videos: one video
# (batching.shards: 0) or a hash bucket of them; the rule is the same either way, so profile
# keys (set-resources, set-threads, groups) apply to `hierarchy` whatever the batching.


rule hierarchy:
    input:
        video_table=ancient(VIDEO_TABLE_PATH),
        features=shard_features,
        checkpoint=model_checkpoint,
    output:
        nodes=f"{RESULTS}/hierarchy/{{model}}/{{shard}}.nodes.parquet",
        videos=f"{RESULTS}/hierarchy/{{model}}/{{shard}}.videos.parquet",
    log:
        f"{LOGS}/hierarchy/{{model}}/{{shard}}.log",
    benchmark:
        "benchmarks/hierarchy/{model}/{shard}.tsv"
    # first whenever ready: each one unlocks segment jobs, and a hierarchy job left for last
    # runs alone on an otherwise idle machine (measured: 43 s -> 34 s, bench_pipeline)
    priority: 10
    conda:
        "../../envs/gpu.yaml"
    threads: RES["hierarchy"]["threads"]
    resources:
        gpu=hierarchy_gpus,
        mem_mb=RES["hierarchy"]["mem_mb"],
        runtime=RES["hierarchy"]["runtime"],
    params:
        model=model_arguments,
        array_key=array_key_argument(),
        device=config["device"],
        batch_size=RES["hierarchy"]["batch_size"],
        inputs=hierarchy_inputs,
    shell:
        "python -m steploc --threads {threads} hierarchy --video-table {input.video_table:q}"
        " --shard {wildcards.shard:q} --features {input.features:q} {params.array_key}"
        " --model-name {wildcards.model:q} {params.model} --device {params.device:q}"
        " --batch-size {params.batch_size} --nodes-out {output.nodes:q}"
        " --videos-out {output.videos:q} > {log:q} 2>&1"
