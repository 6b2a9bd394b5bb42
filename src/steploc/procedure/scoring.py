"""The activity-level protocol: ONE cluster → class matching for all videos of an activity.

Per-video scoring (:mod:`steploc.evaluate`) matches every video's clusters to its classes on
their own; the activity-level protocol (``docs/datasets.md`` §2, ``docs/evaluation.md`` §3,
CTE / ASOT style) pools the feature-grid cells of all videos of an activity and computes one
Hungarian assignment, so a cluster must mean the same step in every video. That holds for the
procedure steps of :func:`steploc.procedure.cluster.procedure_steps`, not for the per-video
cluster ids of ``segments.parquet`` (:func:`raw_cluster_activity_scores` scores those under
the same protocol, to show the difference).

Grids are built as the per-video evaluation builds them: predictions from the segments'
feature rows with :func:`steploc.metrics.segment_cells` (cells no segment covers get the
"unassigned" cluster ``M``, the activity's number of clusters), ground truth from the
:mod:`steploc.ground_truth` table mapped to the step ids its activity shares
(:func:`steploc.evaluate.activity_labels`; numbered ``1..C`` within the activity, background
``0``, a class like any other). Per activity, over its scored videos (ground truth ``ok`` and
predictions present), with the assignment of :func:`steploc.metrics.cluster_classes` on the
pooled cells (every formula is in :mod:`steploc.metrics`):

* ``precision``, ``recall``, ``iou``: :func:`~steploc.metrics.egoprocel_scores` of the pooled
  cells (its pairs are that same assignment; classes absent from the activity are dropped),
  ``f1`` from that P and R;
* ``mof``: pooled Σ correct / Σ cells (:func:`~steploc.metrics.mof_per_activity`);
* ``f1@τ``: :func:`~steploc.metrics.segmental_counts` per video on the mapped labels (segments
  never cross videos), TP/FP/FN summed over the videos, :func:`~steploc.metrics.f1_from_counts`;
* ``edit``: mean over the videos of :func:`~steploc.metrics.edit_score` on the mapped labels.

``activity scores`` (:data:`ACTIVITY_SCORES_SCHEMA`), one row per activity:
    ``protocol`` string (always ``"activity"``: never mix these rows with per-video ones),
    ``predictions`` string (``"procedure_steps"`` or ``"raw_clusters"``), ``activity_id`` int64,
    ``status`` (``ok`` / ``skipped``), ``reason``, ``videos_scored``, ``videos_skipped``
    (videos of the activity not scored: no ground truth or no predictions), ``n_cells``
    (pooled cells), ``n_clusters`` (``M``, without the unassigned cluster), ``n_classes``
    (ground-truth steps of the activity, without background) int64; ``precision``,
    ``recall``, ``f1``, ``iou``, ``mof``, ``edit``, ``f1@0.10``, ``f1@0.25``, ``f1@0.50``
    float64 (fractions in [0, 1]; NaN when skipped).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
import pyarrow as pa

from steploc.metrics import (
    STANDARD_OVERLAPS,
    cluster_classes,
    edit_score,
    egoprocel_scores,
    f1_from_counts,
    f1_from_precision_recall,
    mof_per_activity,
    segment_cells,
    segmental_counts,
)
from steploc.metrics.validation import as_label_pair_lists, label_count

PROTOCOL = "activity"

_METRICS = ["precision", "recall", "f1", "iou", "mof", "edit", *[f"f1@{t:.2f}" for t in STANDARD_OVERLAPS]]

ACTIVITY_SCORES_SCHEMA = pa.schema([
    ("protocol", pa.string()),
    ("predictions", pa.string()),
    ("activity_id", pa.int64()),
    ("status", pa.string()),
    ("reason", pa.string()),
    ("videos_scored", pa.int64()),
    ("videos_skipped", pa.int64()),
    ("n_cells", pa.int64()),
    ("n_clusters", pa.int64()),
    ("n_classes", pa.int64()),
    *[(name, pa.float64()) for name in _METRICS],
])


def score_activity(preds: Sequence, gts: Sequence, *, n_clusters: int | None = None,
                   n_classes: int | None = None, overlaps: Sequence[float] = STANDARD_OVERLAPS
                   ) -> dict[str, float | int]:
    """The activity-level metrics (module docs) of one activity's videos: ``preds[i]`` /
    ``gts[i]`` are video ``i``'s cluster and class per grid cell; clusters and classes must mean
    the same in every video. ``n_clusters`` / ``n_classes`` default to ``max + 1`` over all
    videos. Keys: ``precision``, ``recall``, ``f1``, ``iou``, ``mof``, ``edit``, ``f1@τ`` (τ with
    2 decimals), ``n_cells``, ``n_videos``."""
    pairs = as_label_pair_lists(preds, gts)
    pooled_pred = np.concatenate([pred for pred, _ in pairs])
    pooled_gt = np.concatenate([gt for _, gt in pairs])
    n_classes = label_count(pooled_gt, n_classes, "gt", "n_classes")
    n_clusters = label_count(pooled_pred, n_clusters, "pred", "n_clusters")
    class_of_cluster = cluster_classes(pooled_pred, pooled_gt, n_clusters=n_clusters, n_classes=n_classes)
    row: dict[str, float | int] = dict(egoprocel_scores(pooled_pred, pooled_gt, n_clusters=n_clusters,
                                                        n_classes=n_classes))
    row["f1"] = f1_from_precision_recall(row["precision"], row["recall"])
    row["mof"] = mof_per_activity([p for p, _ in pairs], [g for _, g in pairs], n_clusters=n_clusters,
                                  n_classes=n_classes)
    mapped = [(class_of_cluster[pred], gt) for pred, gt in pairs]
    row["edit"] = float(np.mean([edit_score(m, gt, relabel=False) for m, gt in mapped]))
    for overlap in overlaps:
        counts = np.sum([tuple(segmental_counts(m, gt, overlap, relabel=False)) for m, gt in mapped], axis=0)
        row[f"f1@{overlap:.2f}"] = f1_from_counts(int(counts[0]), int(counts[1]), int(counts[2]))
    row["n_cells"] = int(pooled_gt.size)
    row["n_videos"] = len(pairs)
    return row


def _truth_table(ground_truth: pd.DataFrame) -> pd.DataFrame:
    missing = {"video_id", "status", "labels", "class_labels"} - set(ground_truth.columns)
    if missing:
        raise ValueError(f"ground_truth lacks column(s) {sorted(missing)}")
    table = ground_truth.reset_index(drop=True)
    return table.set_index("video_id", drop=False)


def _shared_labels(truth) -> np.ndarray:
    from steploc.evaluate import activity_labels

    return activity_labels({"labels": np.asarray(truth["labels"], dtype=np.int64),
                            "class_labels": truth["class_labels"]})


def _score_predictions(predictions: pd.DataFrame, label_column: str, name: str, ground_truth: pd.DataFrame,
                       clusters_by_activity: Mapping[int, int], videos: pd.DataFrame | None,
                       skipped_activities: Mapping[int, str], overlaps: Sequence[float]) -> pd.DataFrame:
    truth_by_video = _truth_table(ground_truth)
    by_video = dict(tuple(predictions.groupby("video_id", sort=True)))
    rows = []
    for activity_id in sorted(set(predictions["activity_id"].astype(int)) | set(skipped_activities)):
        candidates = set(predictions.loc[predictions["activity_id"] == activity_id, "video_id"])
        if videos is not None:
            candidates |= set(videos.loc[videos["activity_id"] == activity_id, "video_id"])
        if "activity_id" in truth_by_video.columns:
            candidates |= set(truth_by_video.loc[truth_by_video["activity_id"] == activity_id, "video_id"])
        row: dict = {"protocol": PROTOCOL, "predictions": name, "activity_id": int(activity_id),
                     "status": "skipped", "reason": "", "videos_scored": 0, "videos_skipped": len(candidates),
                     "n_cells": 0, "n_clusters": 0, "n_classes": 0, **dict.fromkeys(_METRICS, np.nan)}
        if activity_id in skipped_activities:
            rows.append({**row, "reason": skipped_activities[activity_id]})
            continue
        scored = [v for v in sorted(candidates) if v in by_video and v in truth_by_video.index
                  and truth_by_video.at[v, "status"] == "ok"]
        if not scored:
            rows.append({**row, "reason": "no video with both ground truth and predictions"})
            continue
        n_clusters = int(clusters_by_activity[activity_id])
        shared = [_shared_labels(truth_by_video.loc[v]) for v in scored]
        vocabulary = np.unique(np.concatenate(shared))
        vocabulary = vocabulary[vocabulary != 0]
        gts = [np.where(s == 0, 0, np.searchsorted(vocabulary, s) + 1) for s in shared]
        preds = [segment_cells(by_video[v]["start_feature"], by_video[v]["end_feature"],
                               by_video[v][label_column].astype(np.int64), len(g), fill=n_clusters)
                 for v, g in zip(scored, gts, strict=True)]
        # the unassigned cluster is a column only where some cell is unassigned (as per video)
        uncovered = any(np.any(p == n_clusters) for p in preds)
        scores = score_activity(preds, gts, n_clusters=n_clusters + int(uncovered),
                                n_classes=int(vocabulary.size) + 1, overlaps=overlaps)
        row.update(status="ok", videos_scored=len(scored), videos_skipped=len(candidates) - len(scored),
                   n_cells=int(scores["n_cells"]), n_clusters=n_clusters, n_classes=int(vocabulary.size),
                   **{m: float(scores[m]) for m in _METRICS if m in scores})
        rows.append(row)
    frame = pd.DataFrame(rows, columns=ACTIVITY_SCORES_SCHEMA.names)
    return pa.Table.from_pandas(frame, schema=ACTIVITY_SCORES_SCHEMA, preserve_index=False).to_pandas()


def _check_segments(segments: pd.DataFrame) -> None:
    missing = {"video_id", "activity_id", "segment_idx", "start_feature", "end_feature"} - set(segments.columns)
    if missing:
        raise ValueError(f"segments lacks column(s) {sorted(missing)}")


def activity_level_scores(steps: pd.DataFrame, segments: pd.DataFrame, ground_truth: pd.DataFrame, *,
                          videos: pd.DataFrame | None = None, k_by_activity: Mapping[int, int] | None = None,
                          overlaps: Sequence[float] = STANDARD_OVERLAPS) -> pd.DataFrame:
    """Activity-level scores (module docs) of the procedure steps, ``predictions="procedure_steps"``.

    ``steps``: :func:`~steploc.procedure.cluster.procedure_steps` output; ``segments``:
    ``segments.parquet`` (its feature rows place the steps on the grid, exactly as the
    per-video evaluation places clusters); ``ground_truth``: the :mod:`steploc.ground_truth`
    table (e.g. :func:`steploc.ground_truth.read_ground_truth`); ``videos``: optional
    ``videos.parquet``, so that videos without segments count as skipped; ``k_by_activity``:
    ``M`` per activity (default: its largest ``step_id`` + 1). An activity with segments but no
    steps (skipped by the clustering) gets a ``skipped`` row.
    """
    _check_segments(segments)
    keys = ["video_id", "segment_idx"]
    joined = segments[keys + ["activity_id", "start_feature", "end_feature"]].merge(
        steps[keys + ["step_id"]], on=keys, how="outer", validate="one_to_one", indicator=True)
    orphans = joined[joined["_merge"] == "right_only"]
    if len(orphans):
        raise ValueError(f"steps of segment(s) {orphans[keys].values.tolist()[:5]} missing from segments")
    clustered = set(joined.loc[joined["_merge"] == "both", "activity_id"].astype(int))
    partial = set(joined.loc[joined["_merge"] == "left_only", "activity_id"].astype(int)) & clustered
    if partial:
        raise ValueError(f"activity(ies) {sorted(partial)}: some segments have a step, others none")
    skipped = {int(a): "no procedure steps (activity skipped by the clustering)"
               for a in set(joined["activity_id"].astype(int)) - clustered}
    predictions = joined[joined["_merge"] == "both"].drop(columns="_merge")
    predictions = predictions.astype({"step_id": np.int64, "activity_id": np.int64})
    clusters = {int(a): int(g.max()) + 1 for a, g in predictions.groupby("activity_id")["step_id"]}
    if k_by_activity is not None:
        clusters.update({int(a): int(k) for a, k in k_by_activity.items() if int(a) in clusters})
    return _score_predictions(predictions, "step_id", "procedure_steps", ground_truth, clusters, videos,
                              skipped, overlaps)


def raw_cluster_activity_scores(segments: pd.DataFrame, ground_truth: pd.DataFrame, *,
                                videos: pd.DataFrame | None = None,
                                overlaps: Sequence[float] = STANDARD_OVERLAPS) -> pd.DataFrame:
    """The same activity-level protocol on the RAW per-video ``cluster`` ids of
    ``segments.parquet`` (``predictions="raw_clusters"``): a baseline showing what one shared
    matching makes of ids that mean nothing across videos. ``M`` = the largest ``n_clusters`` of
    the activity's videos in ``videos`` (else its largest cluster id + 1)."""
    _check_segments(segments)
    if "cluster" not in segments.columns:
        raise ValueError("segments lacks column 'cluster'")
    predictions = segments.astype({"cluster": np.int64, "activity_id": np.int64})
    clusters = {int(a): int(g.max()) + 1 for a, g in predictions.groupby("activity_id")["cluster"]}
    if videos is not None:
        ok = videos[videos["status"] == "ok"]
        for activity_id, k in ok.groupby("activity_id")["n_clusters"].max().items():
            if int(activity_id) in clusters:
                clusters[int(activity_id)] = max(clusters[int(activity_id)], int(k))
    return _score_predictions(predictions, "cluster", "raw_clusters", ground_truth, clusters, videos, {},
                              overlaps)
