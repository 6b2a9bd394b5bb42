# Config, the video table and the input/params functions of the rules.
#
# The video table is built once per run, here, by the main Snakemake process: bad input (a
# missing feature file, two candidates for one id, a period that disagrees with the video
# duration, an id outside the allowed set, malformed ground truth) fails before any job runs.
# The main process writes it to <results_dir>/video_table.parquet (only when its content changed);
# jobs that re-parse the workflow (cluster jobs, groups) read that file, so a job's parse opens
# no feature file. No job writes the table; the stages list it as an ancient() input and
# carry the values they depend on in params: (the whole-table readers its digest), so a changed
# table (e.g. one video added) reruns only the jobs whose values changed, and the file's mtime
# never matters. (Producing it in a job would hit a Snakemake 9.27 bug; jobs
# downstream of a rerun job through ancient() inputs are never checked for changed params.)

import json
import os
import shlex
from pathlib import Path

from snakemake.exceptions import WorkflowError
from snakemake.utils import validate

import steploc
from steploc.config import (
    BASELINE_MODELS,
    BASELINE_SETTING,
    check_config,
    check_train_overrides,
)
from steploc.errors import InputError
from steploc.runtime import put_interpreter_first_on_path
from steploc.schema import CONFIG_SCHEMA

put_interpreter_first_on_path()

try:
    check_config(config)
except InputError as exc:
    raise WorkflowError(f"steploc: {exc}") from None

# The package's schema (workflow/schemas/ links to it): its $refs resolve next to it.
validate(config, schema=str(CONFIG_SCHEMA))

if workflow.is_main_process:
    try:  # each train run's training config (imports torch: the main process only)
        check_train_overrides(config)
    except InputError as exc:
        raise WorkflowError(f"steploc: {exc}") from None

# Every output under RESULTS, every log under LOGS (config results_dir / logs_dir).
RESULTS = config["results_dir"].rstrip("/")
LOGS = config["logs_dir"].rstrip("/")
VIDEO_TABLE_PATH = f"{RESULTS}/video_table.parquet"
GROUND_TRUTH_PATH = f"{RESULTS}/ground_truth.parquet"
# Content fingerprints of the feature files, reused while a file's stat is unchanged.
FINGERPRINT_CACHE = ".snakemake/steploc/feature_fingerprints.json"
# Held by the main process for its lifetime: one run at a time writes the video table.
RUN_LOCK = ".snakemake/steploc/run.lock"

EVAL = config["evaluation"]
PROCEDURE = config["procedure"]
# K_a per activity of the procedure stage (decided by the main process at parse time).
PROCEDURE_K = {}


def _build_video_table():
    """The main process loads the dataset, builds the table, checks the ground truth and
    publishes the table to VIDEO_TABLE_PATH (rewritten only when its content changed); jobs
    that re-parse the workflow read that file. Returns (table, scorable video ids, the ground
    truth's files, whether the dataset has ground truth)."""
    from steploc.video_table import build_video_table, publish_video_table, read_video_table

    if not workflow.is_main_process:
        if not Path(VIDEO_TABLE_PATH).is_file():
            raise WorkflowError(
                f"steploc: {VIDEO_TABLE_PATH} is missing in this job; the main "
                "Snakemake process writes it before any job runs"
            )
        return read_video_table(VIDEO_TABLE_PATH), set(), [], EVAL["enabled"]
    from steploc.datasets import load_dataset
    from steploc.fingerprint import FingerprintCache

    try:
        dataset = load_dataset(config["annotations"], config["videos"])
        fingerprints = FingerprintCache(FINGERPRINT_CACHE)
        table = build_video_table(config, fingerprints, dataset)
        fingerprints.save()
        scorable, truth_files = set(), []
        global PROCEDURE_K
        if PROCEDURE["enabled"]:
            from steploc.procedure.stage import procedure_k

            PROCEDURE_K = procedure_k(
                PROCEDURE["k_strategy"],
                PROCEDURE["k_fixed"],
                table,
                dataset,
                config["annotations"]["format"],
            )
        if dataset.truth is not None and EVAL["enabled"]:
            # malformed ground truth fails now, naming the file, row and value
            truth = dataset.truth.check(table)
            scorable = truth.scorable()
            truth_files = [str(p) for p in truth.files()]
        publish_video_table(table, VIDEO_TABLE_PATH, RUN_LOCK)
    except InputError as exc:
        raise WorkflowError(f"steploc: {exc}") from None
    return table, scorable, truth_files, dataset.truth is not None and EVAL["enabled"]


# The checkpoints the train stage writes (absolute path -> run): a model may use one before it
# exists (Snakemake then runs train -> hierarchy; the hierarchy job's loader validates it).
TRAIN_RUNS = config["train"]["runs"]
TRAINED_CHECKPOINTS = {
    os.path.abspath(f"{RESULTS}/train/{run}/checkpoint.pth"): run for run in TRAIN_RUNS
}

for _name, _model in config["models"].items():
    if _model["type"] == "hiero":
        _ckpt = _model.get("checkpoint")
        _trained = bool(_ckpt) and os.path.abspath(_ckpt) in TRAINED_CHECKPOINTS
        if not _trained and (not _ckpt or not Path(_ckpt).is_file()):
            raise WorkflowError(
                f"steploc: models.{_name}.checkpoint: file {_ckpt!r} not found; check the "
                "path (`make demo` writes the demo's random-weights checkpoint, "
                "data/demo_checkpoints/hiero_egovlp_RANDOM_WEIGHTS.pth; a train run's is "
                f"{RESULTS}/train/<run>/checkpoint.pth, <run> one of train.runs: "
                f"{', '.join(TRAIN_RUNS) or 'none configured'})"
            )

# SCORABLE: videos with valid ground truth; TRUTH_FILES: the files it is read from (both known
# to the main process only: the rules that need them run there).
VIDEO_TABLE, SCORABLE, TRUTH_FILES, EVALUATE = _build_video_table()

_OK = VIDEO_TABLE[VIDEO_TABLE["status"] == "ok"].sort_values("video_id", kind="stable")
SHARDS = {shard: rows for shard, rows in _OK.groupby("shard", sort=True)}
MODELS = list(config["models"])
SETTINGS = list(config["clustering"])
RES = config["resources"]
EVAL_RUNS = [(m, s) for m in MODELS for s in SETTINGS] + [
    (b, BASELINE_SETTING) for b in EVAL["baselines"]
]


wildcard_constraints:
    model="|".join(MODELS + list(BASELINE_MODELS)),
    setting="|".join(SETTINGS + [BASELINE_SETTING]),
    activity="[0-9]+",
    shard="[^/]+",
    video="[^/]+",


def video_table_digest():
    """The table's content hash: the rerun trigger of the rules that read the whole table."""
    from steploc.video_table import video_table_digest

    return video_table_digest(VIDEO_TABLE)


# ---------------------------------------------------------------------------- paths


def hierarchy_outputs(model, shard):
    base = f"{RESULTS}/hierarchy/{model}/{shard}"
    return [f"{base}.nodes.parquet", f"{base}.videos.parquet"]


def segment_outputs(model, setting, shard):
    base = f"{RESULTS}/segments/{model}/{setting}/{shard}"
    return [f"{base}.segments.parquet", f"{base}.videos.parquet"]


def summary_outputs(model, setting):
    return [
        f"{RESULTS}/summary/{model}/{setting}/{name}.parquet"
        for name in ("segments", "step_embeddings", "videos")
    ]


def metrics_outputs(model, setting):
    return [
        f"{RESULTS}/metrics/{model}/{setting}/{name}.parquet"
        for name in ("videos", "activities", "labels")
    ]


# ---------------------------------------------------------------------------- hierarchy


def shard_features(wildcards):
    """The shard's feature files, in video-id order (the order of the video table's rows)."""
    return SHARDS[wildcards.shard]["feature_path"].tolist()


def model_checkpoint(wildcards):
    """Files a model reads besides the features (a HiERO checkpoint): a new one reruns it. A
    train run's checkpoint is named as the train rule's output, so Snakemake chains them."""
    checkpoint_path = config["models"][wildcards.model].get("checkpoint")
    if checkpoint_path and os.path.abspath(checkpoint_path) in TRAINED_CHECKPOINTS:
        return [train_checkpoint(TRAINED_CHECKPOINTS[os.path.abspath(checkpoint_path)])]
    return [checkpoint_path] if checkpoint_path else []


def model_arguments(wildcards, input):
    """The model's command-line options; the checkpoint path comes from the rule's input."""
    model = config["models"][wildcards.model]
    args = ["--model-type", model["type"], "--depth", str(model["depth"])]
    if model["type"] == "hiero":
        args += ["--checkpoint", input.checkpoint[0], "--positions", model["positions"]]
    return shlex.join(args)


def hierarchy_inputs(wildcards):
    """What the shard's node features depend on besides the files: a rerun trigger."""
    rows = SHARDS[wildcards.shard]
    return [
        [
            r.video_id,
            r.feature_fingerprint,
            int(r.n_features),
            int(r.feature_dim),
            float(r.feature_period_s),
            r.feature_layout,
        ]
        for r in rows.itertuples(index=False)
    ]


def _cuda_expected():
    from steploc.hierarchy import nvidia_driver_present

    return nvidia_driver_present()


def gpus_for_device(device):
    """1 when a job on `device` will use a GPU (cuda, or auto on a host with an NVIDIA
    driver), else 0: CPU jobs then run side by side. A cluster profile's set-resources
    overrides it."""
    if device == "cpu" or (device == "auto" and not _cuda_expected()):
        return 0
    return 1


def hierarchy_gpus(wildcards):
    return gpus_for_device(config["device"])


def array_key_argument():
    key = config["features"]["array_key"]
    return "" if key is None else f"--array-key {shlex.quote(key)}"


# ---------------------------------------------------------------------------- segment


def segment_inputs(wildcards):
    """K of each video of the shard: a rerun trigger (a k_strategy change reclusters only the
    videos whose K changed)."""
    rows = SHARDS[wildcards.shard]
    return [[r.video_id, int(r.n_clusters)] for r in rows.itertuples(index=False)]


def setting_json(wildcards):
    return json.dumps(config["clustering"][wildcards.setting], sort_keys=True)


# ---------------------------------------------------------------------------- targets


def all_stage_outputs():
    """Every documented intermediate file: targets of `rule all`, so a deleted one is rebuilt
    by a plain rerun (Snakemake does not regenerate a missing intermediate file on its own when
    the files made from it are up to date)."""
    return [f for m in MODELS for shard in SHARDS for f in hierarchy_outputs(m, shard)] + [
        f
        for m in MODELS
        for s in SETTINGS
        for shard in SHARDS
        for f in segment_outputs(m, s, shard)
    ]


def all_summaries():
    return [f for m in MODELS for s in SETTINGS for f in summary_outputs(m, s)]


def annotations_json():
    return json.dumps(config["annotations"], sort_keys=True)


def evaluate_inputs(wildcards):
    inputs = {"video_table": ancient(VIDEO_TABLE_PATH), "ground_truth": GROUND_TRUTH_PATH}
    if wildcards.model not in BASELINE_MODELS:
        segments, _, videos = summary_outputs(wildcards.model, wildcards.setting)
        inputs.update(segments=segments, videos=videos)
    return inputs


def evaluate_summary_args(wildcards, input):
    if "segments" not in input.keys():
        return ""
    return f"--segments {shlex.quote(input.segments)} --videos {shlex.quote(input.videos)}"


# ---------------------------------------------------------------------------- procedure


def procedure_json():
    return json.dumps(PROCEDURE, sort_keys=True)


def procedure_inputs(wildcards):
    segments, embeddings, videos = summary_outputs(wildcards.model, wildcards.setting)
    inputs = {"segments": segments, "embeddings": embeddings, "videos": videos}
    if EVALUATE:
        inputs["ground_truth"] = GROUND_TRUTH_PATH
    return inputs


def procedure_truth_argument(wildcards, input):
    if "ground_truth" not in input.keys():
        return ""
    return f"--ground-truth {shlex.quote(input.ground_truth)}"


def procedure_outputs(model, setting):
    base = f"{RESULTS}/procedure/{model}/{setting}"
    return [f"{base}/{name}.parquet" for name in ("steps", "clusters", "quality")] + [
        f"{RESULTS}/metrics/{model}/{setting}/activity_level.parquet"
    ]


def all_procedure():
    if not PROCEDURE["enabled"]:
        return []
    activities = sorted({int(a) for a in _OK["activity_id"]})
    outputs = [f for m in MODELS for s in SETTINGS for f in procedure_outputs(m, s)]
    if PROCEDURE["report_map"]:
        outputs += [
            f"{RESULTS}/report/procedure/{m}/{s}/{a}.{kind}.png"
            for m in MODELS
            for s in SETTINGS
            for a in activities
            for kind in ("map", "strip")
        ]
    return outputs


def overall_inputs(wildcards):
    inputs = {"videos": [metrics_outputs(m, s)[0] for m, s in EVAL_RUNS]}
    if PROCEDURE["enabled"]:
        inputs["activity_level"] = [procedure_outputs(m, s)[3] for m in MODELS for s in SETTINGS]
    return inputs


def activity_level_argument(wildcards, input):
    if "activity_level" not in input.keys():
        return ""
    return "--activity-level " + " ".join(shlex.quote(p) for p in input.activity_level)


def all_metrics():
    if not EVALUATE:
        return []
    return (
        [f"{RESULTS}/metrics/overall.parquet", f"{RESULTS}/report/f1_per_activity.png"]
        + [f for m, s in EVAL_RUNS for f in metrics_outputs(m, s)]
        + [f"{RESULTS}/report/timelines/{v}.png" for v in REPORT_VIDEOS]
    )


def timeline_inputs(wildcards):
    return {
        "ground_truth": GROUND_TRUTH_PATH,
        "labels": [metrics_outputs(m, s)[2] for m, s in EVAL_RUNS],
        "scores": [metrics_outputs(m, s)[0] for m, s in EVAL_RUNS],
    }


if EVALUATE:
    from steploc.evaluate import report_sample

    # In a job's re-parse SCORABLE is empty: report targets matter to the main process only.
    REPORT_VIDEOS = report_sample(
        VIDEO_TABLE[VIDEO_TABLE["video_id"].isin(SCORABLE)], EVAL["report_videos"]
    )
else:
    REPORT_VIDEOS = []


# ---------------------------------------------------------------------------- train


def train_checkpoint(run):
    return f"{RESULTS}/train/{run}/checkpoint.pth"


def _train_rows(run):
    """The run's videos (video-table rows, in video-id order): its `videos` list, checked
    against the table at parse time, or every processable video."""
    wanted = TRAIN_RUNS[run]["videos"]
    if wanted is None:
        return _OK
    status = dict(zip(VIDEO_TABLE["video_id"], VIDEO_TABLE["status"]))
    for video in wanted:
        if status.get(video) != "ok":
            why = "not in the video table" if video not in status else f"status {status[video]}"
            raise WorkflowError(
                f"steploc: train.runs.{run}.videos: video {video!r} cannot be trained on "
                f"({why}); list processable videos of the video table only"
            )
    return _OK[_OK["video_id"].isin(wanted)]


TRAIN_ROWS = {run: _train_rows(run) for run in TRAIN_RUNS}
for _run, _rows in TRAIN_ROWS.items():
    if _rows.empty:
        raise WorkflowError(f"steploc: train.runs.{_run}: no processable video to train on")


wildcard_constraints:
    run="|".join(TRAIN_RUNS),


def train_inputs(wildcards):
    """The run's files: its feature files (video-id order), narrations, optional vectors and
    initial checkpoint; the video table is ancient() as everywhere."""
    run = TRAIN_RUNS[wildcards.run]
    inputs = {
        "video_table": ancient(VIDEO_TABLE_PATH),
        "features": TRAIN_ROWS[wildcards.run]["feature_path"].tolist(),
        "narrations": run["narrations"],
    }
    if run["vectors"]:
        inputs["vectors"] = run["vectors"]
    if run["init_checkpoint"]:
        inputs["init_checkpoint"] = run["init_checkpoint"]
    return inputs


def train_run_json(wildcards):
    """The run's config entry (schema defaults filled in): a change retrains."""
    return json.dumps(TRAIN_RUNS[wildcards.run], sort_keys=True)


def train_videos_digest(wildcards):
    """A hash of what the run's features are (ids, content fingerprints, shapes, periods,
    layouts): a changed or added video retrains; other video-table columns (K, shard) do not."""
    import hashlib

    rows = TRAIN_ROWS[wildcards.run]
    values = [
        [
            r.video_id,
            r.feature_fingerprint,
            int(r.n_features),
            int(r.feature_dim),
            float(r.feature_period_s),
            r.feature_layout,
        ]
        for r in rows.itertuples(index=False)
    ]
    return hashlib.blake2b(json.dumps(values).encode(), digest_size=12).hexdigest()


def train_state_dir(wildcards, output):
    """The run's resumable state: next to its outputs, never one of them (Snakemake deletes
    declared outputs before a job runs), so a killed job resumes when it runs again."""
    return str(Path(output.checkpoint).parent / "state")


def train_arguments(wildcards, input):
    """Optional command-line options of the train command (files from the rule's input)."""
    args = []
    if "vectors" in input.keys():
        args += ["--vectors", input.vectors]
    if "init_checkpoint" in input.keys():
        args += ["--init-checkpoint", input.init_checkpoint]
    return shlex.join(args)


def train_device(run):
    """The device a run trains on: its `train.device=` override, else the workflow's."""
    device = config["device"]
    for item in TRAIN_RUNS[run]["overrides"]:
        key, _, value = item.partition("=")
        if key.strip() == "train.device":
            device = value.strip()
    return device


def train_gpus(wildcards):
    return gpus_for_device(train_device(wildcards.run))


def all_train():
    return [
        f
        for run in TRAIN_RUNS
        for f in (
            train_checkpoint(run),
            f"{RESULTS}/train/{run}/metrics.parquet",
            f"{RESULTS}/report/train/{run}.loss.png",
        )
    ]
