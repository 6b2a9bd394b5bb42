"""Internal quality of each activity's procedure-step clustering (no ground truth needed).

``quality`` (:data:`QUALITY_SCHEMA`), one row per activity:
    ``activity_id`` int64, ``n_segments`` int64 (points clustered), ``k`` int64 (distinct
    labels among them), ``silhouette`` (mean silhouette coefficient, Euclidean, in [-1, 1],
    higher is better), ``davies_bouldin`` (>= 0, lower is better), ``calinski_harabasz``
    (>= 0, higher is better) float64 — ``sklearn.metrics.silhouette_score``,
    ``davies_bouldin_score``, ``calinski_harabasz_score`` on the activity's feature matrix
    (the clustering input of :func:`steploc.procedure.cluster.activity_features`) and labels;
    ``reason`` string: empty when the indices are defined, else why they are NaN (all three
    need ``2 <= k <= n_segments - 1``: "a single cluster", "as many clusters as segments",
    "no segments", "activity not clustered").
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd
import pyarrow as pa

from steploc.procedure.cluster import ActivityFeatures

QUALITY_SCHEMA = pa.schema([
    ("activity_id", pa.int64()),
    ("n_segments", pa.int64()),
    ("k", pa.int64()),
    ("silhouette", pa.float64()),
    ("davies_bouldin", pa.float64()),
    ("calinski_harabasz", pa.float64()),
    ("reason", pa.string()),
])


def _quality_row(activity_id: int, features: np.ndarray, labels: np.ndarray) -> dict:
    from sklearn.metrics import calinski_harabasz_score, davies_bouldin_score, silhouette_score

    n = len(labels)
    k = int(np.unique(labels).size)
    row: dict = {"activity_id": int(activity_id), "n_segments": n, "k": k, "silhouette": np.nan,
                 "davies_bouldin": np.nan, "calinski_harabasz": np.nan, "reason": ""}
    if n == 0:
        row["reason"] = "no segments"
    elif k < 2:
        row["reason"] = "a single cluster"
    elif k >= n:
        row["reason"] = "as many clusters as segments"
    else:
        row.update(silhouette=float(silhouette_score(features, labels, metric="euclidean")),
                   davies_bouldin=float(davies_bouldin_score(features, labels)),
                   calinski_harabasz=float(calinski_harabasz_score(features, labels)))
    return row


def quality_table(features: Mapping[int, np.ndarray], labels: Mapping[int, np.ndarray]) -> pd.DataFrame:
    """One :data:`QUALITY_SCHEMA` row per activity: ``features[a]`` (n x d) clustered as
    ``labels[a]`` (n,). Both mappings must have the same activities, and matching lengths."""
    if set(features) != set(labels):
        raise ValueError(f"features and labels name different activities: "
                         f"{sorted(set(features) ^ set(labels))}")
    rows = []
    for activity_id in sorted(features):
        x = np.asarray(features[activity_id], dtype=np.float64)
        y = np.asarray(labels[activity_id])
        if x.ndim != 2 or y.ndim != 1 or len(x) != len(y):
            raise ValueError(f"activity {activity_id}: features must be (n, d) and labels (n,), "
                             f"got {x.shape} and {y.shape}")
        rows.append(_quality_row(activity_id, x, y))
    return _frame(rows)


def _frame(rows: list[dict]) -> pd.DataFrame:
    if not rows:
        return QUALITY_SCHEMA.empty_table().to_pandas()
    return pd.DataFrame(rows, columns=QUALITY_SCHEMA.names).astype(
        {"activity_id": np.int64, "n_segments": np.int64, "k": np.int64})


def quality_from_steps(features: Mapping[int, ActivityFeatures], steps: pd.DataFrame) -> pd.DataFrame:
    """:func:`quality_table` of the ``steps`` table of
    :func:`~steploc.procedure.cluster.procedure_steps` on the features it was clustered on
    (``activity_features`` with the same ``position_weight``); labels are aligned by
    ``(video_id, segment_idx)``. Activities with features but no steps (skipped by the
    clustering) get a row with NaN indices and reason "activity not clustered"."""
    by_activity = dict(tuple(steps.groupby("activity_id", sort=True)))
    rows = []
    for activity_id in sorted(features):
        points = features[activity_id]
        clustered = by_activity.get(activity_id)
        if clustered is None:
            rows.append({"activity_id": int(activity_id), "n_segments": len(points.rows), "k": 0,
                         "silhouette": np.nan, "davies_bouldin": np.nan, "calinski_harabasz": np.nan,
                         "reason": "activity not clustered"})
            continue
        keys = ["video_id", "segment_idx"]
        aligned = points.rows[keys].merge(clustered[keys + ["step_id"]], on=keys, how="left",
                                          validate="one_to_one")
        if aligned["step_id"].isna().any() or len(clustered) != len(points.rows):
            raise ValueError(f"activity {activity_id}: steps and features hold different segments")
        rows.append(_quality_row(activity_id, points.features, aligned["step_id"].to_numpy(np.int64)))
    return _frame(rows)
