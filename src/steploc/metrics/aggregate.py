"""Per-video metric rows and their per-activity / overall aggregation (``docs/evaluation.md`` §2–§4).

:func:`score_video` computes one row of per-video metrics; :func:`aggregate_metrics` turns a
DataFrame of such rows (plus an activity id) into per-activity rows and one overall row, each
metric aggregated as its section of evaluation.md prescribes.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np
import pandas as pd

from steploc.metrics.egoprocel import egoprocel_scores, f1_from_precision_recall
from steploc.metrics.matching import hungarian_relabel
from steploc.metrics.segmental import STANDARD_OVERLAPS, edit_score, f1_from_counts, segmental_counts
from steploc.metrics.validation import as_label_pair

_COUNT_COLUMN = re.compile(r"^(tp|fp|fn)@(.+)$")


def score_video(
    pred,
    gt,
    *,
    n_clusters: int | None = None,
    n_classes: int | None = None,
    overlaps: Sequence[float] = STANDARD_OVERLAPS,
) -> dict[str, float | int]:
    """All per-video metrics of one video as a flat dict (one row for :func:`aggregate_metrics`).

    Keys: ``precision``, ``recall``, ``iou`` (EgoProceL), ``f1`` (of this video's P and R;
    dataset F1 is formed from mean P and R, see :func:`aggregate_metrics`); ``mof`` (per-video
    Hungarian, background a class); ``n_cells`` (grid points, the MoF weight); ``edit``; and
    for each τ in ``overlaps`` the F1@τ counts ``tp@τ``, ``fp@τ``, ``fn@τ`` and this video's
    ``f1@τ`` (τ formatted with 2 decimals, e.g. ``tp@0.10``). One per-video Hungarian mapping
    serves MoF, F1@τ and Edit.
    """
    pred, gt = as_label_pair(pred, gt)
    row: dict[str, float | int] = dict(egoprocel_scores(pred, gt, n_clusters=n_clusters, n_classes=n_classes))
    row["f1"] = f1_from_precision_recall(row["precision"], row["recall"])
    mapped = hungarian_relabel(pred, gt, n_clusters=n_clusters, n_classes=n_classes)
    row["mof"] = float(np.mean(mapped == gt))
    row["n_cells"] = int(gt.size)
    row["edit"] = edit_score(mapped, gt, relabel=False)
    for overlap in overlaps:
        counts = segmental_counts(mapped, gt, overlap, relabel=False)
        for name, value in counts._asdict().items():
            row[f"{name}@{overlap:.2f}"] = value
        row[f"f1@{overlap:.2f}"] = f1_from_counts(*counts)
    return row


def _count_thresholds(columns) -> list[str]:
    """The τ suffixes for which a complete ``tp@τ``/``fp@τ``/``fn@τ`` triple is present."""
    found: dict[str, set[str]] = {}
    for column in columns:
        match = _COUNT_COLUMN.match(str(column))
        if match:
            found.setdefault(match.group(2), set()).add(match.group(1))
    incomplete = sorted(tau for tau, kinds in found.items() if kinds != {"tp", "fp", "fn"})
    if incomplete:
        raise ValueError(f"per_video needs tp@τ, fp@τ and fn@τ together; incomplete for τ = {incomplete}")
    return sorted(found)


def _pooled_over_videos(videos: pd.DataFrame, thresholds: list[str]) -> dict[str, float | int]:
    """Video-pooled values: means of P/R/IoU/Edit, Σcorrect/Σpoints MoF, summed F1@τ counts."""
    row: dict[str, float | int] = {"n_videos": len(videos)}
    for column in ("precision", "recall", "iou"):
        if column in videos:
            row[column] = float(videos[column].mean())
    row["f1"] = f1_from_precision_recall(row["precision"], row["recall"])
    if "mof" in videos:
        row["n_cells"] = int(videos["n_cells"].sum())
        row["mof"] = float((videos["mof"] * videos["n_cells"]).sum() / row["n_cells"])
        row["mof_video_mean"] = float(videos["mof"].mean())
    if "edit" in videos:
        row["edit"] = float(videos["edit"].mean())
    for tau in thresholds:
        counts = {kind: int(videos[f"{kind}@{tau}"].sum()) for kind in ("tp", "fp", "fn")}
        row.update({f"{kind}@{tau}": value for kind, value in counts.items()})
        row[f"f1@{tau}"] = f1_from_counts(**counts)
    return row


def _check_per_video(per_video: pd.DataFrame, activity_column: str) -> None:
    if not isinstance(per_video, pd.DataFrame) or per_video.empty:
        raise ValueError("per_video must be a non-empty pandas DataFrame with one row per video")
    missing = {activity_column, "precision", "recall"} - set(per_video.columns)
    if "mof" in per_video.columns and "n_cells" not in per_video.columns:
        missing.add("n_cells")
    if missing:
        raise ValueError(f"per_video lacks column(s) {sorted(missing)}")
    if per_video[activity_column].isna().any():
        raise ValueError(f"per_video has rows without {activity_column}")
    for column in ("precision", "recall", "iou", "mof", "edit"):
        if column in per_video.columns:
            values = per_video[column].to_numpy(dtype=float)
            if not np.all(np.isfinite(values)) or values.min() < 0 or values.max() > 1:
                raise ValueError(f"per_video[{column!r}] must hold finite values in [0, 1]")


def aggregate_metrics(per_video: pd.DataFrame, *, activity_column: str = "activity_id") -> pd.DataFrame:
    """Per-activity rows plus one overall row from a per-video metrics DataFrame.

    ``per_video`` has one row per video with ``activity_column``, ``precision`` and ``recall``,
    and optionally ``iou``, ``mof`` + ``n_cells``, ``edit`` and ``tp@τ``/``fp@τ``/``fn@τ``
    triples (as produced by :func:`score_video`). Output columns: ``level`` (``"activity"`` or
    ``"overall"``), ``activity_column`` (missing on the overall row), ``n_videos`` and the
    aggregated metrics. Rules:

    * **activity row** (a "task" of §2): precision, recall, IoU, Edit = means over its videos;
      ``f1 = 2·P̄·R̄/(P̄+R̄)`` from those means (never the mean of per-video F1s);
      MoF = Σ correct / Σ points (``mof``, pooled: MS-TCN's Acc) and the mean of per-video
      MoF (``mof_video_mean``: the TW-FINCH / ASOT per-video scripts); F1@τ from the summed
      TP/FP/FN.
    * **overall row**: precision, recall and IoU = means over the activity rows (the multi-task
      rule of §2, as for EGTEA and CMU-MMAC), ``f1`` from that mean P and R; MoF, Edit and F1@τ
      pooled over all videos (§3, §4); ``n_videos`` = all videos, ``n_activities`` = activities.
    """
    _check_per_video(per_video, activity_column)
    thresholds = _count_thresholds(per_video.columns)
    activity_rows = [
        {"level": "activity", activity_column: activity, **_pooled_over_videos(videos, thresholds)}
        for activity, videos in per_video.groupby(activity_column, sort=True)
    ]
    by_activity = pd.DataFrame(activity_rows)
    overall: dict[str, object] = {"level": "overall", "n_activities": len(by_activity),
                                  **_pooled_over_videos(per_video, thresholds)}
    for column in ("precision", "recall", "iou"):
        if column in by_activity:
            overall[column] = float(by_activity[column].mean())
    overall["f1"] = f1_from_precision_recall(float(overall["precision"]),  # type: ignore[arg-type]
                                             float(overall["recall"]))  # type: ignore[arg-type]
    result = pd.concat([by_activity, pd.DataFrame([overall])], ignore_index=True)
    if pd.api.types.is_integer_dtype(per_video[activity_column]):
        result[activity_column] = result[activity_column].astype("Int64")
    result["n_activities"] = result["n_activities"].fillna(1).astype(int)
    leading = ["level", activity_column, "n_activities", "n_videos"]
    return result[leading + [c for c in result.columns if c not in leading]]
