"""Cross-video step vocabulary: cluster the segments of all videos of an activity jointly.

Inputs are the summary tables of one model x setting (:mod:`steploc.summaries`):
``segments.parquet``, ``step_embeddings.parquet`` and ``videos.parquet``. Per activity, every
segment of every processed video becomes one point:

* its embedding (mean of the original features inside the segment), L2-normalised (an all-zero
  embedding stays zero);
* optionally one more column, ``position_weight · relative_position``, where
  ``relative_position = ((start_s + end_s) / 2) / video end`` and the video end is
  :func:`steploc.summaries.video_end_s` (its features' span, or its duration when shorter).
  ``position_weight = 0`` (default) adds no column.

The points are clustered into ``K_a`` clusters (``k_by_activity``): scikit-learn ``KMeans``
(k-means++, ``random_state`` fixed, ``n_init`` restarts) or ``AgglomerativeClustering``
(``linkage``, deterministic). Points are ordered by ``(video_id, segment_idx)`` before
clustering, so the result does not depend on the input row order. The cluster of a segment is
its **procedure step** (``step_id``): the same id means the same step in every video of the
activity. Step ids are the clustering's labels (arbitrary but deterministic); their temporal
order is ``order_rank`` in :func:`steploc.procedure.describe.cluster_table`.

Tables (pyarrow schemas below):

``steps`` (:data:`STEPS_SCHEMA`), one row per clustered segment, ordered by ``activity_id``,
``video_id``, ``segment_idx``:
    ``video_id`` string, ``activity_id`` int64, ``segment_idx`` int32, ``start_s``, ``end_s``
    float64 (seconds, as in ``segments.parquet``), ``step_id`` int32 (``0 .. K_a - 1``),
    ``distance`` float64 (Euclidean distance of the segment's feature vector to its cluster's
    centroid: the k-means centre, or for agglomerative clustering the mean of the cluster's
    members), ``relative_position`` float64 (segment centre / video end, in [0, 1]; without
    the weight).
``skipped`` (:data:`SKIPPED_SCHEMA`), one row per activity that was not clustered (never
dropped silently):
    ``activity_id`` int64, ``n_segments`` int64, ``k`` int64 (``K_a``; 0 when none was given),
    ``reason`` string (fewer segments than ``K_a``, fewer distinct feature vectors than
    ``K_a``, no segments at all, no ``K_a`` given).

Videos with status ``skipped`` have no segments and simply contribute nothing.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal, NamedTuple

import numpy as np
import pandas as pd
import pyarrow as pa

from steploc.summaries import video_end_s

STEPS_SCHEMA = pa.schema([
    ("video_id", pa.string()),
    ("activity_id", pa.int64()),
    ("segment_idx", pa.int32()),
    ("start_s", pa.float64()),
    ("end_s", pa.float64()),
    ("step_id", pa.int32()),
    ("distance", pa.float64()),
    ("relative_position", pa.float64()),
])

SKIPPED_SCHEMA = pa.schema([
    ("activity_id", pa.int64()),
    ("n_segments", pa.int64()),
    ("k", pa.int64()),
    ("reason", pa.string()),
])

METHODS = ("kmeans", "agglomerative")

_ROW_COLUMNS = ["video_id", "activity_id", "segment_idx", "start_s", "end_s", "relative_position"]


class ActivityFeatures(NamedTuple):
    """The points of one activity: ``rows`` (``video_id``, ``activity_id``, ``segment_idx``,
    ``start_s``, ``end_s``, ``relative_position``; ordered by ``video_id``, ``segment_idx``)
    and ``features`` (float64, one row per row of ``rows``)."""

    rows: pd.DataFrame
    features: np.ndarray


def _empty(schema: pa.Schema) -> pd.DataFrame:
    return schema.empty_table().to_pandas()


def _typed(frame: pd.DataFrame, schema: pa.Schema) -> pd.DataFrame:
    """``frame`` with exactly the schema's columns, in its order and dtypes."""
    return pa.Table.from_pandas(frame[schema.names], schema=schema, preserve_index=False).to_pandas()


def _video_ends(videos: pd.DataFrame, video_ids) -> pd.Series:
    """Video end in seconds (``video_end_s``) of each id in ``video_ids``; raises for a video
    the table lacks or whose features' extent is unknown."""
    missing_columns = {"video_id", "n_features", "feature_period_s", "duration_s"} - set(videos.columns)
    if missing_columns:
        raise ValueError(f"videos lacks column(s) {sorted(missing_columns)}")
    table = videos.drop_duplicates("video_id").set_index("video_id")
    wanted = pd.unique(np.asarray(video_ids, dtype=object))
    absent = [v for v in wanted if v not in table.index]
    if absent:
        raise ValueError(f"segments of video(s) {absent[:5]} but no row in videos")
    info = table.loc[wanted]
    ends = {}
    for video_id, n, period, duration in zip(wanted, info["n_features"], info["feature_period_s"],
                                              info["duration_s"], strict=True):
        if pd.isna(n) or pd.isna(period):
            raise ValueError(f"video {video_id!r} has segments but no n_features / feature_period_s")
        duration = float("nan") if pd.isna(duration) else float(duration)
        end = video_end_s(int(n), float(period), duration)
        if not end > 0:
            raise ValueError(f"video {video_id!r} has a non-positive end ({end} s)")
        ends[video_id] = end
    return pd.Series(ends, dtype=float)


def _embedding_matrix(values) -> np.ndarray:
    rows = [np.asarray(v, dtype=np.float64) for v in values]
    if not rows:
        return np.zeros((0, 0))
    widths = {row.shape for row in rows}
    if len(widths) != 1 or rows[0].ndim != 1:
        raise ValueError(f"embeddings must all be 1-D of one length, got shapes {sorted(widths)[:3]}")
    matrix = np.stack(rows)
    if not np.all(np.isfinite(matrix)):
        raise ValueError("embeddings hold NaN or infinite values")
    return matrix


def l2_normalise(matrix: np.ndarray) -> np.ndarray:
    """Rows scaled to unit Euclidean norm; all-zero rows stay zero."""
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    return np.divide(matrix, norms, out=np.zeros_like(matrix), where=norms > 0)


def activity_features(segments: pd.DataFrame, embeddings: pd.DataFrame, videos: pd.DataFrame, *,
                      position_weight: float = 0.0) -> dict[int, ActivityFeatures]:
    """The clustering input of every activity that has segments: ``{activity_id: ActivityFeatures}``.

    ``features`` = the L2-normalised embedding, plus the column ``position_weight ·
    relative_position`` when ``position_weight != 0``. Raises ValueError for a segment
    without an embedding (or one twice), embeddings of different lengths or non-finite values,
    and segments of a video that ``videos`` lacks.
    """
    if not (np.isfinite(position_weight) and position_weight >= 0):
        raise ValueError(f"position_weight must be a finite number >= 0, got {position_weight!r}")
    needed = {"video_id", "activity_id", "segment_idx", "start_s", "end_s"}
    missing = needed - set(segments.columns)
    if missing:
        raise ValueError(f"segments lacks column(s) {sorted(missing)}")
    missing = {"video_id", "segment_idx", "embedding"} - set(embeddings.columns)
    if missing:
        raise ValueError(f"embeddings lacks column(s) {sorted(missing)}")
    keys = ["video_id", "segment_idx"]
    if segments.duplicated(keys).any():
        raise ValueError("segments holds a (video_id, segment_idx) twice")
    if embeddings.duplicated(keys).any():
        raise ValueError("embeddings holds a (video_id, segment_idx) twice")
    if segments.empty:
        return {}
    rows = segments[["video_id", "activity_id", "segment_idx", "start_s", "end_s"]].astype(
        {"video_id": object, "activity_id": np.int64, "segment_idx": np.int32, "start_s": np.float64,
         "end_s": np.float64})
    rows = rows.sort_values(["activity_id", "video_id", "segment_idx"], kind="stable", ignore_index=True)
    emb = embeddings[keys + ["embedding"]].astype({"video_id": object, "segment_idx": np.int32})
    joined = rows.merge(emb, on=keys, how="left", validate="one_to_one", indicator=True)
    lacking = joined[joined["_merge"] != "both"]
    if len(lacking):
        raise ValueError(f"no embedding for segment(s) {lacking[keys].values.tolist()[:5]}")
    ends = _video_ends(videos, rows["video_id"])
    rows["relative_position"] = (rows["start_s"] + rows["end_s"]) / 2.0 / rows["video_id"].map(ends).to_numpy()
    matrix = l2_normalise(_embedding_matrix(joined["embedding"]))
    if position_weight != 0:
        matrix = np.column_stack([matrix, position_weight * rows["relative_position"].to_numpy()])
    result = {}
    for activity_id, index in rows.groupby("activity_id", sort=True).indices.items():
        result[int(activity_id)] = ActivityFeatures(rows.iloc[index][_ROW_COLUMNS].reset_index(drop=True),
                                                    matrix[index])
    return result


def cluster_points(features: np.ndarray, k: int, *, method: str = "kmeans", random_state: int = 0,
                   n_init: int = 10, linkage: str = "ward") -> tuple[np.ndarray, np.ndarray]:
    """``(labels, distance)`` of ``features`` clustered into ``k`` clusters (see module docs)."""
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    if k == 1:
        labels = np.zeros(len(features), dtype=np.int64)
    elif method == "kmeans":
        from sklearn.cluster import KMeans

        model = KMeans(n_clusters=k, n_init=n_init, random_state=random_state).fit(features)
        labels, centres = model.labels_.astype(np.int64), model.cluster_centers_
        return labels, np.linalg.norm(features - centres[labels], axis=1)
    else:
        from sklearn.cluster import AgglomerativeClustering

        labels = AgglomerativeClustering(n_clusters=k, linkage=linkage).fit(features).labels_.astype(np.int64)
    # every cluster of these two has members (k <= n points)
    centres = np.stack([features[labels == c].mean(axis=0) for c in range(k)])
    distance = np.linalg.norm(features - centres[labels], axis=1)
    return labels, distance


def _check_k(activity_id, k) -> int:
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
        raise ValueError(f"k_by_activity[{activity_id}] must be an integer >= 1, got {k!r}")
    return int(k)


def procedure_steps(segments: pd.DataFrame, embeddings: pd.DataFrame, videos: pd.DataFrame,
                    k_by_activity: Mapping[int, int], *,
                    method: Literal["kmeans", "agglomerative"] = "kmeans",
                    position_weight: float = 0.0, random_state: int = 0, n_init: int = 10,
                    linkage: str = "ward") -> tuple[pd.DataFrame, pd.DataFrame]:
    """``(steps, skipped)``: every activity's segments clustered jointly into ``K_a`` procedure steps.

    ``segments`` / ``embeddings`` / ``videos``: the summary tables (``segments.parquet``,
    ``step_embeddings.parquet``, ``videos.parquet``) as DataFrames. ``k_by_activity``:
    ``{activity_id: K_a}``. Every activity that has segments or a ``K_a`` ends up either in
    ``steps`` or with a reason in ``skipped``. Schemas and feature definition: module docs.
    Deterministic for fixed arguments, whatever the input row order.
    """
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    if isinstance(n_init, bool) or not isinstance(n_init, int) or n_init < 1:
        raise ValueError(f"n_init must be an integer >= 1, got {n_init!r}")
    ks = {int(a): _check_k(a, k) for a, k in k_by_activity.items()}
    features = activity_features(segments, embeddings, videos, position_weight=position_weight)
    parts, skipped = [], []
    for activity_id in sorted(set(features) | set(ks)):
        k = ks.get(activity_id)
        points = features.get(activity_id)
        n = 0 if points is None else len(points.rows)
        if points is None:
            skipped.append((activity_id, 0, k, "no segments (no processed video of this activity)"))
        elif k is None:
            skipped.append((activity_id, n, 0, "no K for this activity in k_by_activity"))
        elif n < k:
            skipped.append((activity_id, n, k, f"{n} segment(s) < K = {k}"))
        elif (distinct := len(np.unique(points.features, axis=0))) < k:
            skipped.append((activity_id, n, k, f"{distinct} distinct feature vector(s) < K = {k}"))
        else:
            labels, distance = cluster_points(points.features, k, method=method, random_state=random_state,
                                              n_init=n_init, linkage=linkage)
            parts.append(points.rows.assign(step_id=labels, distance=distance))
    steps = _typed(pd.concat(parts, ignore_index=True), STEPS_SCHEMA) if parts else _empty(STEPS_SCHEMA)
    skipped_table = (_typed(pd.DataFrame(skipped, columns=SKIPPED_SCHEMA.names), SKIPPED_SCHEMA)
                     if skipped else _empty(SKIPPED_SCHEMA))
    return steps, skipped_table


def k_from_videos(videos: pd.DataFrame, column: str = "n_clusters_requested") -> dict[int, int]:
    """A ``K_a`` per activity from ``videos.parquet``: the most frequent ``column`` value over
    the activity's videos with status ``ok`` (ties: the larger). With a task-graph K strategy
    every video of an activity asks for the same K, which this returns."""
    ok = videos[(videos["status"] == "ok") & videos[column].notna() & (videos[column] > 0)]
    result = {}
    for activity_id, values in ok.groupby("activity_id", sort=True)[column]:
        counts = values.astype(int).value_counts()
        result[int(activity_id)] = int(max(counts.index, key=lambda v: (counts[v], v)))
    return result
