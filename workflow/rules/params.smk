rule params:
    """The params table: one row per selected video (see steploc.params)."""
    input:
        annotations=annotation_inputs(),
        features=feature_files(VIDEOS),
    output:
        "results/params.parquet",
    log:
        "logs/params/params.log",
    params:
        config_json=lambda wc: params_config_json(),
        fingerprint_cache=FINGERPRINT_CACHE,
    localrule: True
    conda:
        "../../envs/cpu.yaml"
    shell:
        "python -m steploc params --config-json {params.config_json:q}"
        " --fingerprint-cache {params.fingerprint_cache:q} --out {output:q}"
        " > {log:q} 2>&1"
