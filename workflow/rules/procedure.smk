# Steps across videos: per model x setting, the segments of all videos of an activity clustered
# into K_a procedure steps (one step id = one step in every video), described against the
# ground truth, checked (silhouette, Davies-Bouldin, Calinski-Harabasz) and scored under the
# activity-level protocol. Changing only `procedure` settings reruns this stage and what reads it.


rule procedure:
    input:
        unpack(procedure_inputs),
    output:
        steps=f"{RESULTS}/procedure/{{model}}/{{setting}}/steps.parquet",
        clusters=f"{RESULTS}/procedure/{{model}}/{{setting}}/clusters.parquet",
        quality=f"{RESULTS}/procedure/{{model}}/{{setting}}/quality.parquet",
        activity_level=f"{RESULTS}/metrics/{{model}}/{{setting}}/activity_level.parquet",
    log:
        f"{LOGS}/procedure/{{model}}/{{setting}}.log",
    localrule: True
    conda:
        "../../envs/cpu.yaml"
    params:
        options=procedure_json(),
        k=lambda wildcards: json.dumps(PROCEDURE_K, sort_keys=True),
        ground_truth=procedure_truth_argument,
    shell:
        "python -m steploc procedure --segments {input.segments:q}"
        " --embeddings {input.embeddings:q} --videos {input.videos:q} {params.ground_truth}"
        " --k-by-activity {params.k:q} --options {params.options:q}"
        " --model {wildcards.model:q} --setting {wildcards.setting:q}"
        " --steps-out {output.steps:q} --clusters-out {output.clusters:q}"
        " --quality-out {output.quality:q} --activity-level-out {output.activity_level:q}"
        " > {log:q} 2>&1"


rule report_procedure:
    input:
        steps=f"{RESULTS}/procedure/{{model}}/{{setting}}/steps.parquet",
        clusters=f"{RESULTS}/procedure/{{model}}/{{setting}}/clusters.parquet",
        quality=f"{RESULTS}/procedure/{{model}}/{{setting}}/quality.parquet",
        segments=f"{RESULTS}/summary/{{model}}/{{setting}}/segments.parquet",
        embeddings=f"{RESULTS}/summary/{{model}}/{{setting}}/step_embeddings.parquet",
        videos=f"{RESULTS}/summary/{{model}}/{{setting}}/videos.parquet",
    output:
        step_map=report(
            f"{RESULTS}/report/procedure/{{model}}/{{setting}}/{{activity}}.map.png",
            caption="../../report/procedure_map.rst",
            category="Procedure steps",
            subcategory="{model} / {setting}",
            labels={"activity": "{activity}", "figure": "step map"},
        ),
        strip=report(
            f"{RESULTS}/report/procedure/{{model}}/{{setting}}/{{activity}}.strip.png",
            caption="../../report/procedure_strip.rst",
            category="Procedure steps",
            subcategory="{model} / {setting}",
            labels={"activity": "{activity}", "figure": "procedure strip"},
        ),
    log:
        f"{LOGS}/report/procedure/{{model}}/{{setting}}/{{activity}}.log",
    localrule: True
    conda:
        "../../envs/cpu.yaml"
    params:
        options=procedure_json(),
    shell:
        "python -m steploc report-procedure --activity {wildcards.activity}"
        " --steps {input.steps:q} --clusters {input.clusters:q} --quality {input.quality:q}"
        " --segments {input.segments:q} --embeddings {input.embeddings:q}"
        " --videos {input.videos:q} --options {params.options:q}"
        " --map-out {output.step_map:q} --strip-out {output.strip:q} > {log:q} 2>&1"
