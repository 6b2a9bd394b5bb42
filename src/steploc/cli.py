"""``python -m steploc <command>``: the entry points the workflow rules call.

Rules call the installed package with ``shell:`` rather than ``script:``, so editing a script
file never reruns every GPU job (``docs/snakemake.md`` §3.3, trap 1). Per-video arguments
arrive as one JSON ``--spec`` so a job can carry one video or a whole shard of them.
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


def _load_yaml_configs(paths: list[str]) -> dict:
    import yaml

    from steploc.config import deep_update

    merged: dict = {}
    for path in paths:
        with open(path) as fh:
            deep_update(merged, yaml.safe_load(fh) or {})
    return merged


def cmd_params(args: argparse.Namespace) -> None:
    from steploc.params import build_params_table, write_params_table

    from steploc.fingerprint import FingerprintCache

    fingerprints = FingerprintCache(args.fingerprint_cache)
    table = build_params_table(json.loads(args.config_json), fingerprints)
    write_params_table(table, args.out)
    fingerprints.save()
    log.info("params table: %d videos (%d skipped) -> %s", len(table),
             int((table["status"] != "ok").sum()), args.out)


def cmd_hierarchy(args: argparse.Namespace) -> None:
    from steploc.hierarchy import HierarchyVideo, run_hierarchy

    spec = json.loads(args.spec)
    run_hierarchy([HierarchyVideo(**v) for v in spec["videos"]], spec["model_name"],
                  spec["model"], device=spec.get("device", "auto"),
                  batch_size=int(spec.get("batch_size", 16)))


def cmd_segment(args: argparse.Namespace) -> None:
    from steploc.segment.job import SegmentVideo, run_segment

    spec = json.loads(args.spec)
    run_segment([SegmentVideo(**v) for v in spec["videos"]], spec["model_name"],
                spec["setting_name"], spec["settings"])


def cmd_summarize(args: argparse.Namespace) -> None:
    import pandas as pd

    from steploc.summaries import summarize

    table = pd.read_parquet(args.params)
    files = {Path(f).name.removesuffix(".npz"): f for f in args.segments}
    counts = summarize(table, files, args.model, args.setting, args.out_dir)
    log.info("summary %s/%s: %s", args.model, args.setting, counts)


def cmd_evaluate(args: argparse.Namespace) -> None:
    import pandas as pd

    from steploc.evaluate import activity_table, evaluate_videos, load_ground_truth
    from steploc.io import atomic_path

    params = pd.read_parquet(args.params)
    annotations = load_ground_truth(args.steps, params, args.invalid_steps)
    steps = annotations.steps
    segments = pd.read_parquet(args.segments) if args.segments else None
    videos = pd.read_parquet(args.videos) if args.videos else None
    per_video, labels = evaluate_videos(params, annotations, args.model, args.setting, segments,
                                        videos, seed=args.seed)
    activities = activity_table(per_video, steps, labels)
    out_dir = Path(args.out_dir)
    for name, table in (("videos", per_video), ("activities", activities)):
        with atomic_path(out_dir / f"{name}.parquet") as tmp:
            table.to_parquet(tmp, index=False)
    log.info("%s/%s: %d videos scored, %d skipped", args.model, args.setting,
             int((per_video["status"] == "ok").sum()), int((per_video["status"] != "ok").sum()))


def cmd_evaluate_overall(args: argparse.Namespace) -> None:
    import pandas as pd

    from steploc.evaluate import overall_row
    from steploc.io import atomic_path

    rows = []
    for path in args.videos:
        per_video = pd.read_parquet(path)
        rows.append(overall_row(per_video, str(per_video["model"].iloc[0]),
                                str(per_video["setting"].iloc[0])))
    table = pd.DataFrame(rows)
    with atomic_path(args.out) as tmp:
        table.to_parquet(tmp, index=False)
    if args.csv:
        with atomic_path(args.csv) as tmp:
            table.to_csv(tmp, index=False, float_format="%.4f")


def _run_tables(run_dirs: list[str]):
    """``(model, setting, segments, videos)`` per ``model/setting`` (baselines: no tables)."""
    import pandas as pd

    from steploc.config import BASELINE_MODELS

    runs = []
    for run in run_dirs:
        model, setting = run.split("/")
        if model in BASELINE_MODELS:
            runs.append((model, setting, None, None))
            continue
        summary = Path("results/summary") / model / setting
        runs.append((model, setting, pd.read_parquet(summary / "segments.parquet"),
                     pd.read_parquet(summary / "videos.parquet")))
    return runs


def cmd_report_figures(args: argparse.Namespace) -> None:
    import pandas as pd

    from steploc.evaluate import load_ground_truth, video_timeline_inputs
    from steploc.io import atomic_path
    from steploc.report import plot_f1_per_activity, plot_video_timelines

    if args.activities:
        activities = pd.concat([pd.read_parquet(p) for p in args.activities], ignore_index=True)
        with atomic_path(args.f1_png) as tmp:
            plot_f1_per_activity(activities, tmp, n_videos_column="videos_scored")
    if args.timelines:
        params = pd.read_parquet(args.params)
        steps = load_ground_truth(args.steps, params, args.invalid_steps).steps
        runs = _run_tables(args.runs)
        for out_png in args.timelines:
            video_id = Path(out_png).name.removesuffix(".png")
            t = video_timeline_inputs(video_id, params, steps, runs, seed=args.seed)
            with atomic_path(out_png) as tmp:
                plot_video_timelines(t["video_id"], t["period_s"], t["gt_labels"],
                                     t["class_names"], t["predictions"], tmp,
                                     uncovered_clusters=t["uncovered_clusters"])


def cmd_demo_features(args: argparse.Namespace) -> None:
    from steploc.demo import write_demo_features

    config = _load_yaml_configs(args.configfile)
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


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="steploc", description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1,
                        help="BLAS/OpenMP/torch threads (the rule's threads)")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("params", help="build the params table")
    p.add_argument("--config-json", required=True, help="the workflow config as JSON")
    p.add_argument("--fingerprint-cache", help="JSON cache of feature-file content hashes")
    p.add_argument("--out", required=True)
    p.set_defaults(func=cmd_params)

    p = sub.add_parser("hierarchy", help="node features of one or more videos")
    p.add_argument("--spec", required=True, help="JSON: model_name, model, device, videos")
    p.set_defaults(func=cmd_hierarchy)

    p = sub.add_parser("segment", help="cluster and segment one or more videos")
    p.add_argument("--spec", required=True, help="JSON: model_name, setting_name, settings, videos")
    p.set_defaults(func=cmd_segment)

    p = sub.add_parser("summarize", help="aggregate per-video segments into Parquet")
    p.add_argument("--params", required=True)
    p.add_argument("--model", required=True)
    p.add_argument("--setting", required=True)
    p.add_argument("--out-dir", required=True)
    p.add_argument("segments", nargs="*", help="per-video segment .npz files")
    p.set_defaults(func=cmd_summarize)

    p = sub.add_parser("evaluate", help="score one model x setting against ground truth")
    p.add_argument("--params", required=True)
    p.add_argument("--steps", required=True, help="step annotations (CSV or JSON)")
    p.add_argument("--model", required=True)
    p.add_argument("--setting", required=True)
    p.add_argument("--segments", help="summary segments.parquet (omit for a baseline)")
    p.add_argument("--videos", help="summary videos.parquet (omit for a baseline)")
    p.add_argument("--seed", type=int, default=0, help="seed of the random baseline")
    p.add_argument("--invalid-steps", choices=["error", "skip"], default="error",
                   help="a malformed ground-truth row: fail, or skip (record) its video")
    p.add_argument("--out-dir", required=True)
    p.set_defaults(func=cmd_evaluate)

    p = sub.add_parser("evaluate-overall", help="one row per model x setting")
    p.add_argument("--out", required=True)
    p.add_argument("--csv", help="also write the table as CSV (for the report)")
    p.add_argument("videos", nargs="+", help="per-video metric tables")
    p.set_defaults(func=cmd_evaluate_overall)

    p = sub.add_parser("report-figures", help="PNG figures for the Snakemake report")
    p.add_argument("--activities", nargs="*", default=[], help="per-recipe metric tables")
    p.add_argument("--f1-png", help="output: F1 per recipe bar chart")
    p.add_argument("--params")
    p.add_argument("--steps")
    p.add_argument("--runs", nargs="*", default=[], help="model/setting pairs to draw")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--invalid-steps", choices=["error", "skip"], default="error")
    p.add_argument("--timelines", nargs="*", default=[],
                   help="output PNGs named <video_id>.png: ground truth vs predictions")
    p.set_defaults(func=cmd_report_figures)

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

    args = build_parser().parse_args(argv)
    setup_logging()
    pin_threads(args.threads)
    log.info("job environment: %s", " ".join(f"{var}={os.environ.get(var, '<unset>')}"
                                             for var in JOB_ENVIRONMENT))
    from steploc.io import OutputWriteError

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
