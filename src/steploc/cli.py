"""``python -m steploc <command>``: the entry points the workflow rules call.

Rules call the installed package with ``shell:`` rather than ``script:``, so editing a script
file never reruns every GPU job (Snakemake's ``code`` trigger for scripts is their mtime).
Every file a command reads or writes arrives on its command line; per-video values come from
the video table the command is given. The only ``results/...`` paths here are defaults of the
user-facing ``video-table`` command.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

from steploc.errors import InputError
from steploc.runtime import pin_threads, setup_logging

log = logging.getLogger("steploc")


# ----------------------------------------------------------------------------- stages


def cmd_video_table(args: argparse.Namespace) -> None:
    from steploc.config import load_config
    from steploc.fingerprint import FingerprintCache
    from steploc.video_table import build_video_table, write_video_table

    fingerprints = FingerprintCache(args.fingerprint_cache)
    table = build_video_table(load_config(*args.configfile), fingerprints)
    fingerprints.save()
    write_video_table(table, args.out)
    log.info("video table: %d videos (%d skipped) -> %s", len(table),
             int((table["status"] != "ok").sum()), args.out)


def cmd_hierarchy(args: argparse.Namespace) -> None:
    from steploc.hierarchy import build_model, run_hierarchy
    from steploc.video_table import read_video_table, shard_rows

    videos = shard_rows(read_video_table(args.video_table), args.shard)
    model = build_model(args.model_type, args.depth, feature_dim=int(videos["feature_dim"].iloc[0]),
                        checkpoint=args.checkpoint, positions=args.positions, device=args.device)
    run_hierarchy(videos, args.features, args.model_name, model, args.nodes_out, args.videos_out,
                  array_key=args.array_key, batch_size=args.batch_size)


def cmd_segment(args: argparse.Namespace) -> None:
    from steploc.intermediate import read_hierarchy
    from steploc.segment.job import run_segment
    from steploc.segment.memory import fit_budget_mb
    from steploc.video_table import read_video_table, shard_rows

    videos = shard_rows(read_video_table(args.video_table), args.shard)
    run_segment(videos, args.features, read_hierarchy(args.nodes, args.hierarchy_videos),
                args.model_name, args.setting_name, json.loads(args.setting_json),
                args.segments_out, args.videos_out, array_key=args.array_key,
                memory_limit_mb=None if args.mem_mb is None else fit_budget_mb(args.mem_mb))


def cmd_summarize(args: argparse.Namespace) -> None:
    from steploc.summaries import summarize
    from steploc.video_table import read_video_table

    counts = summarize(read_video_table(args.video_table), args.segments, args.segment_videos,
                       args.model, args.setting, args.segments_out, args.embeddings_out,
                       args.videos_out)
    log.info("summary %s/%s: %s", args.model, args.setting, counts)


def cmd_ground_truth(args: argparse.Namespace) -> None:
    from steploc.ground_truth import dataset_ground_truth, write_ground_truth
    from steploc.video_table import read_video_table

    table = read_video_table(args.video_table)
    truth = dataset_ground_truth(table, json.loads(args.annotations), args.truth_files)
    write_ground_truth(truth, args.out)
    log.info("ground truth of %d videos -> %s", truth.num_rows, args.out)


def cmd_evaluate(args: argparse.Namespace) -> None:
    import pandas as pd
    import pyarrow as pa

    from steploc.evaluate import LABELS_SCHEMA, activity_table, evaluate_run
    from steploc.ground_truth import read_ground_truth
    from steploc.intermediate import write_table
    from steploc.io import atomic_path
    from steploc.video_table import read_video_table

    table = read_video_table(args.video_table)
    truth = read_ground_truth(args.ground_truth)
    segments = pd.read_parquet(args.segments) if args.segments else None
    videos = pd.read_parquet(args.videos) if args.videos else None
    per_video, labels = evaluate_run(table, truth, args.model, args.setting, segments, videos,
                                     seed=args.seed)
    for frame, path in ((per_video, args.videos_out),
                        (activity_table(per_video, truth, labels), args.activities_out)):
        with atomic_path(path) as tmp:
            frame.to_parquet(tmp, index=False)
    write_table(pa.Table.from_pandas(labels, schema=LABELS_SCHEMA, preserve_index=False),
                args.labels_out)
    log.info("%s/%s: %d videos scored, %d skipped", args.model, args.setting,
             int((per_video["status"] == "ok").sum()), int((per_video["status"] != "ok").sum()))


def cmd_evaluate_overall(args: argparse.Namespace) -> None:
    import pandas as pd

    from steploc.evaluate import activity_level_row, overall_row
    from steploc.io import atomic_path

    levels = {}
    for path in args.activity_level or []:
        scores = pd.read_parquet(path)
        levels[(str(scores["model"].iloc[0]), str(scores["setting"].iloc[0]))
               if len(scores) else path] = scores
    rows = []
    for path in args.videos:
        per_video = pd.read_parquet(path)
        model, setting = str(per_video["model"].iloc[0]), str(per_video["setting"].iloc[0])
        rows.append({**overall_row(per_video, model, setting),
                     **activity_level_row(levels.get((model, setting)))})
    table = pd.DataFrame(rows)
    with atomic_path(args.out) as tmp:
        table.to_parquet(tmp, index=False)
    if args.csv:
        with atomic_path(args.csv) as tmp:
            table.to_csv(tmp, index=False, float_format="%.4f")


def cmd_procedure(args: argparse.Namespace) -> None:
    from steploc.procedure.stage import read_k_by_activity, run_procedure

    counts = run_procedure(args.segments, args.embeddings, args.videos, args.ground_truth,
                           read_k_by_activity(args.k_by_activity), json.loads(args.options),
                           args.model, args.setting, args.steps_out, args.clusters_out,
                           args.quality_out, args.activity_level_out)
    log.info("procedure %s/%s: %s", args.model, args.setting, counts)


def cmd_train(args: argparse.Namespace) -> None:
    from steploc.hiero.training.stage import run_train_stage
    from steploc.video_table import read_video_table

    try:
        run_config = json.loads(args.run_config)
    except ValueError as exc:
        raise InputError(f"--run-config is not JSON: {exc}") from None
    if not isinstance(run_config, dict):
        raise InputError("--run-config must be a JSON object (a train.runs.<run> entry)")
    run_train_stage(read_video_table(args.video_table), args.features, args.narrations,
                    run_config, args.state_dir, args.checkpoint_out, args.metrics_out,
                    args.figure_out, vectors=args.vectors, init_checkpoint=args.init_checkpoint,
                    device=args.device, array_key=args.array_key, run_name=args.run_name)


# ----------------------------------------------------------------------------- figures


def cmd_report_procedure(args: argparse.Namespace) -> None:
    from steploc.report.procedure_figures import draw_activity

    draw_activity(args.activity, args.steps, args.clusters, args.quality, args.segments,
                  args.embeddings, args.videos, json.loads(args.options), args.map_out,
                  args.strip_out)


def cmd_report_f1(args: argparse.Namespace) -> None:
    import pandas as pd

    from steploc.io import atomic_path
    from steploc.report import plot_f1_per_activity

    activities = pd.concat([pd.read_parquet(p) for p in args.activities], ignore_index=True)
    with atomic_path(args.out) as tmp:
        plot_f1_per_activity(activities, tmp, n_videos_column="videos_scored")


def cmd_report_timeline(args: argparse.Namespace) -> None:
    import numpy as np
    import pandas as pd

    from steploc.ground_truth import read_ground_truth
    from steploc.io import atomic_path
    from steploc.report import plot_video_timelines

    if not len(args.runs) == len(args.labels) == len(args.scores):
        raise InputError("--runs, --labels and --scores need one entry per run, in one order")
    truth = read_ground_truth(args.ground_truth).loc[args.video]
    predictions, matchings, row_mof, uncovered = {}, {}, {}, {}
    for run, labels_path, scores_path in zip(args.runs, args.labels, args.scores, strict=True):
        labels = pd.read_parquet(labels_path).set_index("video_id")
        if args.video not in labels.index:
            continue  # this run skipped the video
        row = labels.loc[args.video]
        predictions[run] = np.asarray(row["pred"], np.int64)
        matchings[run] = {c: (None if k < 0 else int(k)) for c, k in enumerate(row["cluster_class"])}
        uncovered[run] = int(row["uncovered_cluster"])
        scores = pd.read_parquet(scores_path).set_index("video_id")
        row_mof[run] = float(scores.at[args.video, "mof"])
    names = dict(enumerate(truth["class_names"], start=1))
    with atomic_path(args.out) as tmp:
        plot_video_timelines(args.video, float(truth["period_s"]), truth["labels"], names,
                             predictions, tmp, uncovered_clusters=uncovered,
                             matchings=matchings, row_mof=row_mof)


# ----------------------------------------------------------------------------- utilities


def cmd_demo_features(args: argparse.Namespace) -> None:
    from steploc.config import load_config
    from steploc.demo import write_demo_features

    config = load_config(*args.configfile)
    out_dir = args.out_dir or config["features"]["dir"]
    written = write_demo_features(config, out_dir, seed=args.seed, overwrite=args.overwrite)
    log.info("wrote %d SYNTHETIC feature file(s) to %s", len(written), out_dir)


def cmd_check_checkpoint(args: argparse.Namespace) -> None:
    import torch

    from steploc.hiero import CheckpointError, load_checkpoint
    from steploc.io import atomic_path

    try:
        model = load_checkpoint(args.checkpoint, device="cpu")
    except CheckpointError as exc:
        raise InputError(str(exc)) from exc
    record = {"checkpoint": args.checkpoint, "input_size": model.config.input_size,
              "hidden_size": model.config.hidden_size,
              "parameters": int(sum(t.numel() for t in model.state_dict().values())),
              "torch": torch.__version__}
    with atomic_path(args.out) as tmp:
        tmp.write_text(json.dumps(record, indent=1))
    log.info("checkpoint %s is a valid HiERO checkpoint: %s", args.checkpoint, record)


def cmd_demo_checkpoint(args: argparse.Namespace) -> None:
    from steploc.hiero.testing import write_random_checkpoint

    if Path(args.out).exists() and not args.overwrite:
        log.info("keeping existing %s", args.out)
        return
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    write_random_checkpoint(args.out, hidden_size=args.hidden_size)
    log.info("wrote a HiERO checkpoint with RANDOM weights (not a trained model) to %s", args.out)


# ----------------------------------------------------------------------------- parser


def _shard_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--video-table", required=True)
    p.add_argument("--shard", required=True, help="the batch job's shard (video table column)")
    p.add_argument("--features", nargs="+", required=True,
                   help="the shard's feature files, in video-id order")
    p.add_argument("--array-key", default=None, help=".npz/.pt key (features.array_key)")
    p.add_argument("--model-name", required=True)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="steploc", description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1,
                        help="BLAS/OpenMP/torch threads (the rule's threads)")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("video-table", help="build the video table of a config")
    p.add_argument("--configfile", action="append", required=True,
                   help="workflow config YAML (repeatable; later files override)")
    p.add_argument("--fingerprint-cache", default=".snakemake/steploc/feature_fingerprints.json")
    p.add_argument("--out", default="results/video_table.parquet")
    p.set_defaults(func=cmd_video_table)

    p = sub.add_parser("hierarchy", help="node features of one shard of videos")
    _shard_arguments(p)
    p.add_argument("--model-type", choices=["raw", "hiero"], required=True)
    p.add_argument("--depth", type=int, required=True)
    p.add_argument("--checkpoint", help="hiero: the checkpoint file")
    p.add_argument("--positions", choices=["index", "seconds"], default="index")
    p.add_argument("--device", default="auto")
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--nodes-out", required=True)
    p.add_argument("--videos-out", required=True)
    p.set_defaults(func=cmd_hierarchy)

    p = sub.add_parser("train", help="train HiERO on narrated videos: one train run")
    p.add_argument("--video-table", required=True)
    p.add_argument("--features", nargs="+", required=True,
                   help="the run's feature files, in video-id order (the video table's)")
    p.add_argument("--array-key", default=None, help=".npz/.pt key (features.array_key)")
    p.add_argument("--narrations", required=True, help="narration table (.parquet / .csv)")
    p.add_argument("--vectors", help=".npy narration vectors (a table with a `row` column)")
    p.add_argument("--run-config", required=True, help="the train.runs.<run> entry as JSON")
    p.add_argument("--run-name", default="train", help="the run's name (for the log and figure)")
    p.add_argument("--init-checkpoint", help="start from this official-format checkpoint")
    p.add_argument("--device", default="auto",
                   help="auto, cpu, cuda[:N] (an override train.device=... wins)")
    p.add_argument("--state-dir", required=True,
                   help="stable folder of the resumable state (not a job output)")
    p.add_argument("--checkpoint-out", required=True, help="official train.py checkpoint")
    p.add_argument("--metrics-out", required=True, help="per-step metrics (Parquet)")
    p.add_argument("--figure-out", required=True, help="loss-curve figure (PNG)")
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("segment", help="cluster and segment one shard of videos")
    _shard_arguments(p)
    p.add_argument("--nodes", required=True, help="the shard's hierarchy nodes table")
    p.add_argument("--hierarchy-videos", required=True, help="the shard's hierarchy videos table")
    p.add_argument("--setting-name", required=True)
    p.add_argument("--setting-json", required=True, help="the clustering.<name> entry as JSON")
    p.add_argument("--mem-mb", type=float, help="the job's memory (MB): a fit that would "
                   "need more than this minus the job's own allowance is refused first")
    p.add_argument("--segments-out", required=True)
    p.add_argument("--videos-out", required=True)
    p.set_defaults(func=cmd_segment)

    p = sub.add_parser("summarize", help="gather the shard tables into the Parquet summaries")
    p.add_argument("--video-table", required=True)
    p.add_argument("--segments", nargs="*", default=[], help="shard segments tables")
    p.add_argument("--segment-videos", nargs="*", default=[], help="shard videos tables")
    p.add_argument("--model", required=True)
    p.add_argument("--setting", required=True)
    p.add_argument("--segments-out", required=True)
    p.add_argument("--embeddings-out", required=True)
    p.add_argument("--videos-out", required=True)
    p.set_defaults(func=cmd_summarize)

    p = sub.add_parser("ground-truth", help="the ground truth of every video on its grid")
    p.add_argument("--video-table", required=True)
    p.add_argument("--annotations", required=True,
                   help="the config's annotations section as JSON (schema defaults filled in)")
    p.add_argument("--truth-files", nargs="+", required=True,
                   help="the ground-truth files the dataset reads (label files, mapping, ...)")
    p.add_argument("--out", required=True)
    p.set_defaults(func=cmd_ground_truth)

    p = sub.add_parser("evaluate", help="score one model x setting against the ground truth")
    p.add_argument("--video-table", required=True)
    p.add_argument("--ground-truth", required=True)
    p.add_argument("--model", required=True)
    p.add_argument("--setting", required=True)
    p.add_argument("--segments", help="summary segments.parquet (omit for a baseline)")
    p.add_argument("--videos", help="summary videos.parquet (omit for a baseline)")
    p.add_argument("--seed", type=int, default=0, help="seed of the random baseline")
    p.add_argument("--videos-out", required=True)
    p.add_argument("--activities-out", required=True)
    p.add_argument("--labels-out", required=True)
    p.set_defaults(func=cmd_evaluate)

    p = sub.add_parser("evaluate-overall", help="one row per model x setting")
    p.add_argument("--out", required=True)
    p.add_argument("--csv", help="also write the table as CSV (for the report)")
    p.add_argument("--videos", nargs="+", required=True, help="per-video metric tables")
    p.add_argument("--activity-level", nargs="*",
                   help="activity-level tables of the procedure stage (model runs only)")
    p.set_defaults(func=cmd_evaluate_overall)

    p = sub.add_parser("procedure", help="steps across videos: one model x setting")
    p.add_argument("--segments", required=True)
    p.add_argument("--embeddings", required=True)
    p.add_argument("--videos", required=True)
    p.add_argument("--ground-truth", help="the ground-truth table (omit when there is none)")
    p.add_argument("--k-by-activity", required=True, help='JSON {"activity_id": K_a}')
    p.add_argument("--options", required=True, help="the procedure config section as JSON")
    p.add_argument("--model", required=True)
    p.add_argument("--setting", required=True)
    for name in ("steps", "clusters", "quality", "activity-level"):
        p.add_argument(f"--{name}-out", required=True)
    p.set_defaults(func=cmd_procedure)

    p = sub.add_parser("report-procedure", help="figures: step map and procedure strip")
    p.add_argument("--activity", type=int, required=True)
    for name in ("steps", "clusters", "quality", "segments", "embeddings", "videos", "options"):
        p.add_argument(f"--{name}", required=True)
    p.add_argument("--map-out", required=True)
    p.add_argument("--strip-out", required=True)
    p.set_defaults(func=cmd_report_procedure)

    p = sub.add_parser("report-f1", help="figure: F1 per activity and model/setting")
    p.add_argument("--activities", nargs="+", required=True, help="per-activity metric tables")
    p.add_argument("--out", required=True)
    p.set_defaults(func=cmd_report_f1)

    p = sub.add_parser("report-timeline", help="figure: one video's ground truth and predictions")
    p.add_argument("--video", required=True)
    p.add_argument("--ground-truth", required=True)
    p.add_argument("--runs", nargs="*", default=[], help="model/setting names, drawn in order")
    p.add_argument("--labels", nargs="*", default=[], help="each run's labels table")
    p.add_argument("--scores", nargs="*", default=[], help="each run's per-video metrics table")
    p.add_argument("--out", required=True)
    p.set_defaults(func=cmd_report_timeline)

    p = sub.add_parser("demo-features",
                       help="write SYNTHETIC features for the configured videos (demo/tests)")
    p.add_argument("--configfile", action="append", required=True,
                   help="workflow config YAML (repeatable; later files override)")
    p.add_argument("--out-dir", help="default: the config's features.dir")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--overwrite", action="store_true")
    p.set_defaults(func=cmd_demo_features)

    p = sub.add_parser("check-checkpoint", help="validate a HiERO checkpoint (safe, strict)")
    p.add_argument("--checkpoint", required=True)
    p.add_argument("--out", required=True, help="JSON record written when it is valid")
    p.set_defaults(func=cmd_check_checkpoint)

    p = sub.add_parser("demo-checkpoint",
                       help="write a HiERO checkpoint with RANDOM weights in the official format")
    p.add_argument("--out", required=True)
    p.add_argument("--hidden-size", type=int, default=32)
    p.add_argument("--overwrite", action="store_true")
    p.set_defaults(func=cmd_demo_checkpoint)
    return parser


#: Where a job ran: written to every job's log (cluster and GPU debugging; the SLURM tests
#: read it back).
JOB_ENVIRONMENT = ("SLURM_JOB_ID", "CUDA_VISIBLE_DEVICES", "HOSTNAME")


def main(argv: list[str] | None = None) -> int:
    import os

    from steploc.io import OutputWriteError

    args = build_parser().parse_args(argv)
    setup_logging()
    pin_threads(args.threads)
    log.info("job environment: %s", " ".join(f"{var}={os.environ.get(var, '<unset>')}"
                                             for var in JOB_ENVIRONMENT))
    try:
        args.func(args)
    except InputError as exc:
        log.error("%s", exc)
        return 2
    except OutputWriteError as exc:
        log.error("%s", exc)
        return 3
    return 0


if __name__ == "__main__":
    sys.exit(main())
