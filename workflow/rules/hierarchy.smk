# Node features per video (the GPU stage). Input: the video's feature file only.
# With batching.shards = 0 one job per video; with N shards one job per shard, writing the same
# per-video files (model start-up paid once per shard instead of once per video).

rule check_checkpoint:
    """Load a HiERO checkpoint once (safe unpickling, strict key and shape check)."""
    input:
        lambda wc: model_files(wc.model),
    output:
        "results/checkpoints/{model}.json",
    log:
        "logs/check_checkpoint/{model}.log",
    localrule: True
    conda:
        "../../envs/gpu.yaml"
    shell:
        "python -m steploc check-checkpoint --checkpoint {input:q} --out {output:q} > {log:q} 2>&1"


HIERARCHY_SHELL = (
    "python -m steploc --threads {threads} hierarchy --spec {params.spec:q} > {log:q} 2>&1"
)

if not SHARDS:

    rule hierarchy:
        input:
            features=lambda wc: feature_files([wc.video]),
            model=lambda wc: model_files(wc.model),
            checks=checkpoint_checks(),
        output:
            "results/hierarchy/{model}/{video}.npz",
        log:
            "logs/hierarchy/{model}/{video}.log",
        benchmark:
            "benchmarks/hierarchy/{model}/{video}.tsv"
        params:
            spec=lambda wc: hierarchy_spec(wc.model, [wc.video]),
        threads: RES["hierarchy"]["threads"]
        resources:
            gpu=1,
            mem_mb=RES["hierarchy"]["mem_mb"],
            runtime=RES["hierarchy"]["runtime"],
        conda:
            "../../envs/gpu.yaml"
        shell:
            HIERARCHY_SHELL

else:
    for _shard, _videos in SHARDS.items():

        rule:
            name:
                f"hierarchy_{_shard}"
            input:
                features=feature_files(_videos),
                model=lambda wc: model_files(wc.model),
                checks=checkpoint_checks(),
            output:
                [hierarchy_path("{model}", v) for v in _videos],
            log:
                f"logs/hierarchy/{{model}}/{_shard}.log",
            benchmark:
                f"benchmarks/hierarchy/{{model}}/{_shard}.tsv"
            params:
                spec=lambda wc, videos=_videos: hierarchy_spec(wc.model, videos),
            threads: RES["hierarchy"]["threads"]
            resources:
                gpu=1,
                mem_mb=RES["hierarchy"]["mem_mb"],
                runtime=RES["hierarchy"]["runtime"],
            conda:
                "../../envs/gpu.yaml"
            shell:
                HIERARCHY_SHELL
