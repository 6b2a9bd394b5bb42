# Config, the params table (built at parse time) and the input/params functions of the rules.
#
# The params table is computed here, when the workflow is parsed, from the annotation files and
# the feature folder: bad input (a missing feature file, two candidates for one id, a period that
# disagrees with the video duration, a recipe without a task graph) fails before any job runs.
# Per-video values reach jobs through `params:`, never through the shared params.parquet as an
# input, so regenerating that table never reruns the GPU stage (docs: snakemake.md §3.3 trap 2).

import json
from pathlib import Path

from snakemake.exceptions import WorkflowError

import steploc
from steploc.batching import assign_shards
from steploc.config import BASELINE_MODELS, BASELINE_SETTING, check_config
from steploc.errors import InputError
from steploc.fingerprint import FingerprintCache
from steploc.runtime import put_interpreter_first_on_path
from steploc.params import build_params_table

put_interpreter_first_on_path()

# Content fingerprints of the feature files, reused while a file's stat is unchanged.
FINGERPRINT_CACHE = ".snakemake/steploc/feature_fingerprints.json"

try:
    check_config(config)
    _fingerprints = FingerprintCache(FINGERPRINT_CACHE)
    PARAMS = build_params_table(config, _fingerprints)
    _fingerprints.save()
except InputError as exc:
    raise WorkflowError(f"steploc: {exc}") from None

for _name, _model in config["models"].items():
    if _model["type"] == "hiero":
        _ckpt = _model.get("checkpoint")
        if not _ckpt or not Path(_ckpt).is_file():
            raise WorkflowError(
                f"steploc: models.{_name}.checkpoint: file {_ckpt!r} not found; check the "
                "path (`make demo` writes the demo's random-weights checkpoint, "
                "data/demo_checkpoints/hiero_egovlp_RANDOM_WEIGHTS.pth)"
            )

VIDEO_ROWS = PARAMS.set_index("video_id", drop=False)
VIDEOS = PARAMS.loc[PARAMS["status"] == "ok", "video_id"].tolist()
MODELS = list(config["models"])
SETTINGS = list(config["clustering"])
SHARDS = assign_shards(VIDEOS, config["batching"]["shards"])
RES = config["resources"]

from steploc.evaluate import load_ground_truth, report_sample

# Evaluation runs only when ground truth (step annotations) is configured.
EVAL = config["evaluation"]
EVALUATE = config["annotations"].get("step_annotations", "") is not None and EVAL["enabled"]
EVAL_RUNS = [(m, s) for m in MODELS for s in SETTINGS] + [
    (b, BASELINE_SETTING) for b in EVAL["baselines"]
]
INVALID_STEPS = config["annotations"]["invalid_steps"]

if EVALUATE:
    # Malformed ground truth fails now, before any job, naming the file, row and value.
    try:
        from steploc.params import annotation_paths

        load_ground_truth(annotation_paths(config["annotations"])["step_annotations"], PARAMS,
                          INVALID_STEPS)
    except InputError as exc:
        raise WorkflowError(f"steploc: {exc}") from None

wildcard_constraints:
    model="|".join(MODELS + list(BASELINE_MODELS)),
    setting="|".join(SETTINGS + [BASELINE_SETTING]),
    video="|".join(VIDEOS) if VIDEOS else "$^",


def hierarchy_path(model, video):
    return f"results/hierarchy/{model}/{video}.npz"


def segment_path(model, setting, video):
    return f"results/segments/{model}/{setting}/{video}.npz"


def model_files(model):
    """Files a model reads besides the features (a HiERO checkpoint): a new one reruns it."""
    checkpoint_path = config["models"][model].get("checkpoint")
    return [checkpoint_path] if checkpoint_path else []


CHECKPOINT_MODELS = [m for m in MODELS if config["models"][m]["type"] == "hiero"]


def checkpoint_checks():
    """Every hierarchy job waits for every checkpoint's validation, so a bad checkpoint fails
    the run before any video is processed (by any model). ancient(): ordering only, a new
    validation record never reruns anything (the checkpoint itself is the rerun trigger)."""
    return [ancient(f"results/checkpoints/{m}.json") for m in CHECKPOINT_MODELS]


def feature_files(videos):
    return [VIDEO_ROWS.at[v, "feature_path"] for v in videos]


def _array_key():
    return config["features"].get("array_key")


def hierarchy_spec(model, videos):
    """JSON for `steploc hierarchy`: only what the model and these videos' features need (no K,
    no clustering settings), so clustering changes never rerun this stage."""
    rows = VIDEO_ROWS.loc[videos]
    return json.dumps({
        "model_name": model,
        "model": config["models"][model],
        "device": config["device"],
        "batch_size": RES["hierarchy"]["batch_size"],
        "videos": [
            {
                "video_id": r.video_id,
                "feature_path": r.feature_path,
                "array_key": _array_key(),
                "n_features": int(r.n_features),
                "feature_dim": int(r.feature_dim),
                "feature_period_s": float(r.feature_period_s),
                "duration_s": None if r.duration_s != r.duration_s else float(r.duration_s),
                "feature_fingerprint": r.feature_fingerprint,
                "output_path": hierarchy_path(model, r.video_id),
            }
            for r in rows.itertuples(index=False)
        ],
    })


def segment_spec(model, setting, videos):
    rows = VIDEO_ROWS.loc[videos]
    return json.dumps({
        "model_name": model,
        "setting_name": setting,
        "settings": config["clustering"][setting],
        # CPU rule: a new release of the package reruns clustering (cheap), never hierarchy.
        "steploc_version": steploc.__version__,
        "videos": [
            {
                "video_id": r.video_id,
                "hierarchy_path": hierarchy_path(model, r.video_id),
                "feature_path": r.feature_path,
                "array_key": _array_key(),
                "n_clusters": int(r.n_clusters),
                "output_path": segment_path(model, setting, r.video_id),
            }
            for r in rows.itertuples(index=False)
        ],
    })


def params_config_json():
    """The config sections the params table depends on, as the job's one parameter."""
    keys = ("annotations", "videos", "features", "params")
    return json.dumps({k: config[k] for k in keys if k in config}, sort_keys=True)


def annotation_inputs():
    from steploc.params import annotation_paths

    paths = annotation_paths(config["annotations"])
    return [str(p) for p in paths.values() if p is not None]


def all_per_video_outputs():
    """Every documented per-video file: targets of `rule all`, so a deleted one is rebuilt by
    a plain rerun (Snakemake does not regenerate a missing intermediate file on its own when
    the files made from it are up to date)."""
    return [hierarchy_path(m, v) for m in MODELS for v in VIDEOS] + [
        segment_path(m, s, v) for m in MODELS for s in SETTINGS for v in VIDEOS
    ]


def all_summaries():
    return expand(
        "results/summary/{model}/{setting}/{name}.parquet",
        model=MODELS,
        setting=SETTINGS,
        name=["segments", "step_embeddings", "videos"],
    )


def evaluate_inputs(wildcards):
    inputs = {"params": "results/params.parquet", "steps": step_annotations_path()}
    if wildcards.model not in BASELINE_MODELS:
        summary = f"results/summary/{wildcards.model}/{wildcards.setting}"
        inputs.update(segments=f"{summary}/segments.parquet", videos=f"{summary}/videos.parquet")
    return inputs


def evaluate_summary_args(wildcards, input):
    import shlex

    if "segments" not in input.keys():
        return ""
    return f"--segments {shlex.quote(input.segments)} --videos {shlex.quote(input.videos)}"


def step_annotations_path():
    from steploc.params import annotation_paths

    return str(annotation_paths(config["annotations"])["step_annotations"])


def all_metrics():
    if not EVALUATE:
        return []
    return (
        ["results/metrics/overall.parquet", "results/report/f1_per_activity.png"]
        + [
            f"results/metrics/{m}/{s}/{name}.parquet"
            for m, s in EVAL_RUNS
            for name in ("videos", "activities")
        ]
        + [f"results/report/timelines/{v}.png" for v in REPORT_VIDEOS]
    )


def timeline_inputs(wildcards):
    """Summaries of every model x setting (baselines need none), params and ground truth."""
    inputs = {"params": "results/params.parquet", "steps": step_annotations_path()}
    for m, s in EVAL_RUNS:
        if m not in BASELINE_MODELS:
            inputs[f"segments_{m}_{s}"] = f"results/summary/{m}/{s}/segments.parquet"
            inputs[f"videos_{m}_{s}"] = f"results/summary/{m}/{s}/videos.parquet"
    return inputs


REPORT_VIDEOS = report_sample(PARAMS, EVAL["report_videos"]) if EVALUATE else []
