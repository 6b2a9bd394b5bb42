"""The evaluate stage: one model x setting (or a baseline) scored against the ground truth.

Per video, both sides live on the video's feature grid (cell ``k`` = feature row ``k``): the
ground truth from :mod:`steploc.ground_truth`, the prediction from the segments' feature rows
(no seconds round trip). Clusters are matched to classes per video (Hungarian, in
:mod:`steploc.metrics`), with ``M`` = the video's K. Every metric formula lives in
:mod:`steploc.metrics`; this module only gathers the inputs and writes three tables:

``videos.parquet``
    per video: EgoProceL ``precision``, ``recall``, ``f1``, ``iou``; ``mof``; ``f1@0.10/0.25/0.50``;
    ``edit``; ``status`` / ``reason`` (skipped videos are listed, never dropped silently).
``activities.parquet``
    per activity: the same metrics (F1 from the mean P and R), ``mof_activity_matched`` (one
    assignment for all videos of the activity) and the videos scored / skipped.
``labels.parquet``
    what the figures draw, so they never recompute it: per scored video ``pred`` (cluster of
    every cell), ``cluster_class`` (the class each cluster is matched to, -1 for none) and
    ``uncovered_cluster`` (the id of cells no segment covers).

Baselines that need no features sit in the same tables, as models with setting ``baseline``:
``random`` (uniform random labels with the video's K, fixed seed) and ``uniform`` (K
equal-length segments).
"""

from __future__ import annotations

import zlib

import numpy as np
import pandas as pd
import pyarrow as pa

from steploc.config import BASELINE_MODELS
from steploc.metrics import (
    STANDARD_OVERLAPS,
    aggregate_metrics,
    cluster_classes,
    mof_per_activity,
    score_video,
    segment_cells,
)

#: Metrics of one video; aggregated rows add ``mof_video_mean`` (mean of per-video MoF) next
#: to ``mof`` (pooled over cells).
VIDEO_METRIC_COLUMNS = ["precision", "recall", "f1", "iou", "mof", "edit",
                        *[f"f1@{t:.2f}" for t in STANDARD_OVERLAPS]]
METRIC_COLUMNS = [*VIDEO_METRIC_COLUMNS[:5], "mof_video_mean", *VIDEO_METRIC_COLUMNS[5:]]

LABELS_SCHEMA = pa.schema([
    ("video_id", pa.string()),
    ("pred", pa.list_(pa.int32())),
    ("cluster_class", pa.list_(pa.int32())),
    ("uncovered_cluster", pa.int32()),
])


def baseline_labels(kind: str, n_cells: int, k: int, video_id: str, seed: int = 0) -> np.ndarray:
    """Grid labels of a feature-free baseline with ``k`` clusters."""
    if kind == "random":
        rng = np.random.default_rng([seed, zlib.crc32(video_id.encode())])
        return rng.integers(0, k, size=n_cells)
    if kind == "uniform":
        return (np.arange(n_cells) * k // n_cells).astype(np.int64)
    raise ValueError(f"unknown baseline {kind!r} (known: {', '.join(BASELINE_MODELS)})")


def evaluate_run(video_table: pd.DataFrame, ground_truth: pd.DataFrame, model: str,
                 setting: str, segments: pd.DataFrame | None = None,
                 videos: pd.DataFrame | None = None, seed: int = 0
                 ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``(per-video metrics, labels)`` of one model x setting: ``segments`` / ``videos`` are
    its summary tables, ``None`` for a baseline named ``model``.

    Every video of the video table gets a row: ``status`` ``ok`` when scored, else
    ``skipped`` with the reason (no features, too short, no or invalid ground truth).
    """
    seg_by_video = {} if segments is None else dict(tuple(segments.groupby("video_id", sort=False)))
    summary = None if videos is None else videos.set_index("video_id")
    rows, label_rows = [], []
    for r in video_table.itertuples(index=False):
        row = {"video_id": r.video_id, "activity_id": int(r.activity_id),
               "activity_name": r.activity_name, "model": model, "setting": setting,
               "status": r.status, "reason": r.reason, "n_cells": 0, "n_clusters": 0}
        k = int(r.n_clusters)
        if r.status == "ok" and summary is not None:
            if r.video_id not in summary.index:
                raise ValueError(f"video {r.video_id!r} missing from the {model}/{setting} summary")
            row.update(status=summary.at[r.video_id, "status"],
                       reason=summary.at[r.video_id, "reason"])
            k = int(summary.at[r.video_id, "n_clusters"])
        truth = ground_truth.loc[r.video_id] if r.video_id in ground_truth.index else None
        if row["status"] == "ok" and (truth is None or truth["status"] != "ok"):
            row.update(status="skipped", reason="no ground truth" if truth is None
                       else truth["reason"])
        if row["status"] != "ok":
            rows.append(row)
            continue
        assert truth is not None
        gt = truth["labels"]
        if segments is None:
            pred = baseline_labels(model, len(gt), k, r.video_id, seed)
        else:
            video_segments = seg_by_video[r.video_id]
            pred = segment_cells(video_segments["start_feature"], video_segments["end_feature"],
                                 video_segments["cluster"], len(gt), fill=k)
        # M = the video's K: a cluster that smoothing emptied stays a column (precision 0), as
        # the protocol asks; one more when some cells carry the "uncovered" id K.
        n_clusters = max(k, int(pred.max()) + 1)
        scores = score_video(pred, gt, n_clusters=n_clusters)
        row.update(n_clusters=k, **scores)
        rows.append(row)
        matched = cluster_classes(pred, gt, n_clusters=n_clusters)
        n_classes = int(gt.max()) + 1
        label_rows.append({"video_id": r.video_id, "pred": pred.astype(np.int32),
                           "cluster_class": np.where(matched < n_classes, matched, -1)
                           .astype(np.int32), "uncovered_cluster": k})
    per_video = pd.DataFrame(rows)
    for column in VIDEO_METRIC_COLUMNS:  # one schema, even when nothing was scored
        if column not in per_video.columns:
            per_video[column] = np.nan
    labels = pa.Table.from_pylist(label_rows, schema=LABELS_SCHEMA).to_pandas()
    return per_video, labels


def activity_table(per_video: pd.DataFrame, ground_truth: pd.DataFrame,
                   labels: pd.DataFrame) -> pd.DataFrame:
    """Per-activity rows: means over the activity's scored videos (F1 from mean P and R), plus
    ``mof_activity_matched``: MoF with ONE cluster-to-step assignment for all videos of the
    activity (cluster ids must agree across videos; ours are per video, so this is the strict
    number) and the count of skipped videos."""
    scored = per_video[per_video["status"] == "ok"]
    aggregated = aggregate_metrics(scored) if len(scored) else pd.DataFrame(columns=["level"])
    aggregated = aggregated[aggregated["level"] == "activity"]
    pred_by_video = dict(zip(labels["video_id"], labels["pred"], strict=True))
    rows = []
    for activity_id, group in per_video.groupby("activity_id", sort=True):
        ok = group[group["status"] == "ok"]
        row = {"activity_id": int(activity_id), "activity_name": group["activity_name"].iloc[0],
               "model": group["model"].iloc[0], "setting": group["setting"].iloc[0],
               "videos_scored": len(ok), "videos_skipped": int((group["status"] != "ok").sum()),
               **dict.fromkeys(METRIC_COLUMNS, np.nan), "mof_activity_matched": np.nan}
        if len(ok):
            agg = aggregated[aggregated["activity_id"] == activity_id].iloc[0]
            row.update({c: float(agg[c]) for c in METRIC_COLUMNS if c in agg})
            row["mof_activity_matched"] = mof_per_activity(
                [np.asarray(pred_by_video[v], np.int64) for v in ok["video_id"]],
                [activity_labels(ground_truth.loc[v]) for v in ok["video_id"]])
        rows.append(row)
    return pd.DataFrame(rows)


def activity_labels(truth) -> np.ndarray:
    """A video's ground truth in the labels its activity shares (per-video class ``c`` ->
    ``class_labels[c - 1]``; background stays 0)."""
    lookup = np.concatenate(([0], np.asarray(truth["class_labels"], dtype=np.int64)))
    return lookup[truth["labels"]]


def overall_row(per_video: pd.DataFrame, model: str, setting: str) -> dict:
    """One row for ``overall.parquet``: dataset P/R/IoU (means; F1 from mean P and R), MoF,
    F1@{10,25,50}, Edit, and how many videos were scored and skipped (listed)."""
    scored = per_video[per_video["status"] == "ok"]
    skipped = per_video[per_video["status"] != "ok"]
    row = {"model": model, "setting": setting, "videos_scored": len(scored),
           "videos_skipped": len(skipped),
           "skipped_videos": ", ".join(f"{v} ({r})" for v, r in
                                       zip(skipped["video_id"], skipped["reason"], strict=True)),
           **dict.fromkeys(METRIC_COLUMNS, np.nan)}
    if len(scored):
        agg = aggregate_metrics(scored)
        overall = agg[agg["level"] == "overall"].iloc[0]
        row.update({c: float(overall[c]) for c in METRIC_COLUMNS if c in overall})
    return row


#: Activity-level metrics in the overall table, prefixed ``activity_level_``.
ACTIVITY_LEVEL_METRICS = ["precision", "recall", "f1", "iou", "mof", "edit",
                          *[f"f1@{t:.2f}" for t in STANDARD_OVERLAPS]]


def activity_level_row(scores: pd.DataFrame | None) -> dict:
    """The activity-level protocol's columns of one overall row (``activity_level_*``), from
    the procedure stage's table (its ``procedure_steps`` rows): P, R, IoU, Edit and F1@τ =
    means over the scored activities, F1 from the mean P and R, MoF pooled over their cells.
    NaN for a baseline (no procedure steps) or when no activity was scored."""
    from steploc.metrics import f1_from_precision_recall

    row = {f"activity_level_{m}": np.nan for m in ACTIVITY_LEVEL_METRICS}
    row["activity_level_activities"] = 0
    if scores is None:
        return row
    ok = scores[(scores["predictions"] == "procedure_steps") & (scores["status"] == "ok")]
    if ok.empty:
        return row
    for metric in ACTIVITY_LEVEL_METRICS:
        row[f"activity_level_{metric}"] = float(ok[metric].mean())
    row["activity_level_f1"] = f1_from_precision_recall(row["activity_level_precision"],
                                                        row["activity_level_recall"])
    row["activity_level_mof"] = float((ok["mof"] * ok["n_cells"]).sum() / ok["n_cells"].sum())
    row["activity_level_activities"] = len(ok)
    return row


def report_sample(video_table: pd.DataFrame, n: int) -> list[str]:
    """``n`` videos for timeline figures: one per activity in turn (first recordings first),
    so the sample spreads over activities; deterministic."""
    ok = video_table[video_table["status"] == "ok"]
    by_activity = [list(g["video_id"]) for _, g in ok.groupby("activity_id", sort=True)]
    sample: list[str] = []
    for rank in range(max((len(v) for v in by_activity), default=0)):
        for videos in by_activity:
            if rank < len(videos) and len(sample) < n:
                sample.append(videos[rank])
    return sample
