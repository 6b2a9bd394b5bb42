# Clustering + smoothing + segments per video (CPU), per model and clustering setting.
# BLAS threads are pinned to the rule's threads: on these small matrices one thread per video
# is fastest, and parallelism comes from running videos side by side.

SEGMENT_SHELL = (
    "python -m steploc --threads {threads} segment --spec {params.spec:q} > {log:q} 2>&1"
)

if not SHARDS:

    rule segment:
        input:
            hierarchy="results/hierarchy/{model}/{video}.npz",
            features=lambda wc: feature_files([wc.video]),
        output:
            "results/segments/{model}/{setting}/{video}.npz",
        log:
            "logs/segment/{model}/{setting}/{video}.log",
        params:
            spec=lambda wc: segment_spec(wc.model, wc.setting, [wc.video]),
        threads: RES["segment"]["threads"]
        resources:
            mem_mb=RES["segment"]["mem_mb"],
            runtime=RES["segment"]["runtime"],
        conda:
            "../../envs/cpu.yaml"
        shell:
            SEGMENT_SHELL

else:
    for _shard, _videos in SHARDS.items():

        rule:
            name:
                f"segment_{_shard}"
            input:
                hierarchy=[hierarchy_path("{model}", v) for v in _videos],
                features=feature_files(_videos),
            output:
                [segment_path("{model}", "{setting}", v) for v in _videos],
            log:
                f"logs/segment/{{model}}/{{setting}}/{_shard}.log",
            params:
                spec=lambda wc, videos=_videos: segment_spec(wc.model, wc.setting, videos),
            threads: RES["segment"]["threads"]
            resources:
                mem_mb=RES["segment"]["mem_mb"],
                runtime=RES["segment"]["runtime"],
            conda:
                "../../envs/cpu.yaml"
            shell:
                SEGMENT_SHELL
