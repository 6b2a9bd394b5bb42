"""Scoring segment outputs against the annotated step times (``docs/evaluation.md``).

Per video, both sides live on the video's feature grid (cell ``k`` = ``[k p, (k+1) p)`` with the
real feature period ``p``): ground truth from the annotated steps (background 0, later-starting
step wins on overlaps, missing steps dropped; :func:`steploc.metrics.ground_truth_labels`), the
prediction from the segments' start/end seconds. Clusters are matched to steps per video
(Hungarian), with ``M`` = the video's K (not EgoProceL's fixed 7).

Baselines that need no features sit in the same tables, as models with setting ``baseline``:
``random`` (uniform random labels with the video's K, fixed seed) and ``uniform`` (K equal-length
segments).
"""

from __future__ import annotations

import zlib

import numpy as np
import pandas as pd

from steploc.config import BASELINE_MODELS
from steploc.annotations import StepAnnotations, check_steps_within_videos, parse_step_annotations
from steploc.metrics import (
    STANDARD_OVERLAPS,
    aggregate_metrics,
    ground_truth_labels,
    mof_per_activity,
    predicted_labels,
    score_video,
)


METRIC_COLUMNS = ["precision", "recall", "f1", "iou", "mof", "edit",
                  *[f"f1@{t:.2f}" for t in STANDARD_OVERLAPS]]


def baseline_labels(kind: str, n_cells: int, k: int, video_id: str, seed: int = 0) -> np.ndarray:
    """Grid labels of a feature-free baseline with ``k`` clusters."""
    if kind == "random":
        rng = np.random.default_rng([seed, zlib.crc32(video_id.encode())])
        return rng.integers(0, k, size=n_cells)
    if kind == "uniform":
        return (np.arange(n_cells) * k // n_cells).astype(np.int64)
    raise ValueError(f"unknown baseline {kind!r} (known: {', '.join(BASELINE_MODELS)})")


def segment_grid_labels(segments: pd.DataFrame, n_cells: int, period_s: float, k: int) -> np.ndarray:
    """A video's segments on its grid. The last segment is extended to the end of the grid: a
    last partial feature window (shorter than the period) still belongs to it."""
    ends = segments["end_s"].to_numpy(dtype=np.float64).copy()
    if len(ends):
        ends[-1] = max(ends[-1], n_cells * period_s)
    return predicted_labels(segments["start_s"].to_numpy(np.float64), ends,
                            segments["cluster"].to_numpy(np.int64), n_cells, period_s,
                            n_clusters=k)


def prediction_labels(model: str, params_row, k: int, segments: pd.DataFrame | None,
                      seed: int = 0) -> np.ndarray:
    """A video's predicted labels on its feature grid: from its segments, or from the baseline
    named ``model`` when ``segments`` is ``None``."""
    n_cells, period = int(params_row.n_features), float(params_row.feature_period_s)
    if segments is None:
        return baseline_labels(model, n_cells, k, params_row.video_id, seed)
    return segment_grid_labels(segments, n_cells, period, k)


def load_ground_truth(steps_path, params: pd.DataFrame, invalid_steps: str = "error"
                      ) -> StepAnnotations:
    """The step annotations, parsed strictly and checked against each video's extent (its
    features' span, or its duration when shorter; one feature period of slack)."""
    parsed = parse_step_annotations(steps_path, invalid_steps)
    ok = params[params["status"] == "ok"]
    ends, slack = {}, {}
    for p in ok.itertuples(index=False):
        period = float(p.feature_period_s)
        end = int(p.n_features) * period
        if p.duration_s == p.duration_s:  # not NaN
            end = min(end, float(p.duration_s))
        ends[p.video_id], slack[p.video_id] = end, period
    return check_steps_within_videos(parsed, ends, slack, steps_path, invalid_steps)


def evaluate_videos(params: pd.DataFrame, steps: pd.DataFrame | StepAnnotations, model: str,
                    setting: str, segments: pd.DataFrame | None = None,
                    videos: pd.DataFrame | None = None, seed: int = 0
                    ) -> tuple[pd.DataFrame, dict[str, tuple[np.ndarray, np.ndarray]]]:
    """Per-video metrics of one model x setting (``segments``/``videos`` are its summary
    tables; ``None`` for a baseline). Returns the table and the grid labels ``{video: (pred,
    gt)}`` of the scored videos.

    Every video of ``params`` gets a row: ``status`` ``ok`` when scored, else ``skipped`` with
    the reason (no features, too short, no or invalid ground truth) and empty metrics.
    """
    annotations = steps if isinstance(steps, StepAnnotations) else None
    steps = annotations.steps if annotations is not None else steps
    steps_by_video = dict(tuple(steps.groupby("recording_id")))
    seg_by_video = {} if segments is None else dict(tuple(segments.groupby("video_id")))
    status_by_video = {} if videos is None else videos.set_index("video_id")[["status", "reason", "n_clusters"]]
    rows, labels = [], {}
    for p in params.itertuples(index=False):
        row = {"video_id": p.video_id, "activity_id": int(p.activity_id),
               "activity_name": p.activity_name, "model": model, "setting": setting,
               "status": p.status, "reason": p.reason, "n_cells": 0, "n_clusters": 0}
        if p.status == "ok" and videos is not None:
            if p.video_id not in status_by_video.index:
                raise ValueError(f"video {p.video_id!r} missing from the {model}/{setting} summary")
            st = status_by_video.loc[p.video_id]
            row.update(status=st["status"], reason=st["reason"], n_clusters=int(st["n_clusters"]))
        invalid = None if annotations is None else annotations.invalid_reason(p.video_id)
        if row["status"] == "ok" and invalid is not None:
            row.update(status="skipped", reason=invalid)
        elif row["status"] == "ok" and p.video_id not in steps_by_video:
            row.update(status="skipped", reason="no ground-truth steps for this video")
        if row["status"] != "ok":
            rows.append(row)
            continue
        gt = ground_truth_labels(steps_by_video[p.video_id], int(p.n_features),
                                 float(p.feature_period_s))
        k = int(p.n_clusters) if videos is None else row["n_clusters"]
        pred = prediction_labels(model, p, k, seg_by_video.get(p.video_id), seed)
        scores = score_video(pred, gt, n_clusters=int(pred.max()) + 1)
        p_, r_ = scores["precision"], scores["recall"]
        scores["f1"] = 0.0 if p_ + r_ == 0 else 2 * p_ * r_ / (p_ + r_)
        for t in STANDARD_OVERLAPS:
            tp, fp, fn = (scores[f"{c}@{t:.2f}"] for c in ("tp", "fp", "fn"))
            scores[f"f1@{t:.2f}"] = 0.0 if tp == 0 else 2 * tp / (2 * tp + fp + fn)
        row.update(n_clusters=k, **scores)
        rows.append(row)
        labels[p.video_id] = (pred, gt)
    return _with_metric_columns(pd.DataFrame(rows)), labels


def _with_metric_columns(table: pd.DataFrame) -> pd.DataFrame:
    """Every metric column present (NaN where nothing was scored): one schema whatever was
    skipped, so that a run whose every video is skipped still writes well-formed tables."""
    for column in METRIC_COLUMNS:
        if column not in table.columns:
            table[column] = np.nan
    return table


def activity_table(per_video: pd.DataFrame, steps: pd.DataFrame,
                   labels: dict[str, tuple[np.ndarray, np.ndarray]]) -> pd.DataFrame:
    """Per-recipe rows: means over the recipe's scored videos (F1 from mean P and R), plus
    ``mof_activity_matched``: MoF with ONE cluster-to-step assignment for all videos of the
    recipe (cluster ids must agree across videos; ours are per video, so this is the strict
    number) and the count of skipped videos."""
    scored = per_video[per_video["status"] == "ok"]
    out = aggregate_metrics(scored) if len(scored) else pd.DataFrame()
    out = out[out.get("level", pd.Series(dtype=str)) == "activity"] if len(out) else out
    rows = []
    for activity_id, group in per_video.groupby("activity_id", sort=True):
        ok = group[group["status"] == "ok"]
        row = {"activity_id": int(activity_id), "activity_name": group["activity_name"].iloc[0],
               "model": group["model"].iloc[0], "setting": group["setting"].iloc[0],
               "videos_scored": len(ok), "videos_skipped": int((group["status"] != "ok").sum())}
        if len(ok):
            agg = out[out["activity_id"] == activity_id].iloc[0]
            row.update({c: float(agg[c]) for c in METRIC_COLUMNS if c in agg})
            global_steps = [_global_step_labels(steps, v, labels[v][1]) for v in ok["video_id"]]
            row["mof_activity_matched"] = mof_per_activity([labels[v][0] for v in ok["video_id"]],
                                                           global_steps)
        rows.append(row)
    table = _with_metric_columns(pd.DataFrame(rows))
    if "mof_activity_matched" not in table.columns:
        table["mof_activity_matched"] = np.nan
    return table


def _global_step_labels(steps: pd.DataFrame, video_id: str, gt: np.ndarray) -> np.ndarray:
    """Re-express a video's per-recording classes as global step ids (shared by the recipe)."""
    from steploc.metrics import step_class_numbering

    video_steps = steps[steps["recording_id"] == video_id]
    to_step = {cls: step for step, cls in step_class_numbering(video_steps).items()}
    return np.array([0 if c == 0 else to_step[c] for c in gt], dtype=np.int64)


def overall_row(per_video: pd.DataFrame, model: str, setting: str) -> dict:
    """One row for ``overall.parquet``: dataset P/R/IoU (means; F1 from mean P and R), MoF,
    F1@{10,25,50}, Edit, and how many videos were scored and skipped (listed)."""
    scored = per_video[per_video["status"] == "ok"]
    skipped = per_video[per_video["status"] != "ok"]
    row = {"model": model, "setting": setting, "videos_scored": len(scored),
           "videos_skipped": len(skipped),
           "skipped_videos": ", ".join(f"{v} ({r})" for v, r in
                                       zip(skipped["video_id"], skipped["reason"])),
           **{c: np.nan for c in METRIC_COLUMNS}}
    if len(scored):
        agg = aggregate_metrics(scored)
        overall = agg[agg["level"] == "overall"].iloc[0]
        row.update({c: float(overall[c]) for c in METRIC_COLUMNS if c in overall})
    return row


def step_names(video_steps: pd.DataFrame) -> dict[int, str]:
    """``{class: step text}`` for a recording's classes (the ``"Verb-"`` prefix of CaptainCook4D
    descriptions dropped)."""
    from steploc.metrics import step_class_numbering

    text = dict(zip(video_steps["step_id"], video_steps["description"]))
    return {cls: str(text[step]).split("-", 1)[-1].strip()
            for step, cls in step_class_numbering(video_steps).items()}


def video_timeline_inputs(video_id: str, params: pd.DataFrame, steps: pd.DataFrame,
                          runs: list[tuple[str, str, pd.DataFrame | None, pd.DataFrame | None]],
                          seed: int = 0) -> dict:
    """Ground truth and every run's prediction of one video on its grid, for
    :func:`steploc.report.plot_video_timelines`. ``runs`` holds ``(model, setting, segments,
    videos)`` summary tables (``None`` for a baseline); runs that skipped the video are left
    out."""
    p = next(params[params["video_id"] == video_id].itertuples(index=False))
    video_steps = steps[steps["recording_id"] == video_id]
    gt = ground_truth_labels(video_steps, int(p.n_features), float(p.feature_period_s))
    predictions, uncovered = {}, {}
    for model, setting, segments, videos in runs:
        if videos is None:
            k = int(p.n_clusters)
            video_segments = None
        else:
            status = videos[videos["video_id"] == video_id]
            if status.empty or status["status"].iloc[0] != "ok":
                continue
            k = int(status["n_clusters"].iloc[0])
            video_segments = segments[segments["video_id"] == video_id]
        name = f"{model}/{setting}"
        predictions[name] = prediction_labels(model, p, k, video_segments, seed)
        uncovered[name] = k
    return {"video_id": video_id, "period_s": float(p.feature_period_s), "gt_labels": gt,
            "class_names": step_names(video_steps), "predictions": predictions,
            "uncovered_clusters": uncovered}


def report_sample(params: pd.DataFrame, n: int) -> list[str]:
    """``n`` videos for timeline figures: one per recipe in turn (first recordings first), so
    the sample spreads over recipes; deterministic."""
    ok = params[params["status"] == "ok"]
    by_activity = [list(g["video_id"]) for _, g in ok.groupby("activity_id", sort=True)]
    sample = []
    for rank in range(max((len(v) for v in by_activity), default=0)):
        for videos in by_activity:
            if rank < len(videos) and len(sample) < n:
                sample.append(videos[rank])
    return sample
