"""The per-shard Parquet files the stages pass to each other (one pair per batch job).

A shard is one job's videos (``shard`` in the video table). Each stage writes two tables:

``hierarchy``: ``<shard>.nodes.parquet``
    one row per node: ``video_id`` string, ``node`` int32, ``start_feature`` / ``end_feature``
    int64 (the feature rows ``[start, end)`` the node covers), ``features``
    fixed_size_list<float32>[H].
``hierarchy``: ``<shard>.videos.parquet``
    one row per video: ``video_id``, ``model``, ``status`` (``ok`` / ``skipped``), ``reason``,
    ``depth`` int32, ``n_features`` int64, ``n_nodes`` int64, ``feature_fingerprint``.
``segment``: ``<shard>.segments.parquet``
    one row per segment: ``video_id``, ``segment_idx`` int32, ``start_node``/``end_node``,
    ``start_feature``/``end_feature`` int64, ``cluster`` int32, ``embedding``
    fixed_size_list<float32>[D] (mean of the original features inside the segment).
``segment``: ``<shard>.videos.parquet``
    one row per video: ``video_id``, ``model``, ``setting``, ``status``, ``reason``,
    ``n_nodes``, ``n_clusters_requested``, ``n_clusters`` (the K used), ``note`` (why K
    differs, if it does), ``node_labels_raw`` / ``node_labels`` list<int32> (before / after
    smoothing).

Times in seconds are not stored here: they follow from the feature rows and the video table's
period and duration, and are computed once, by the summaries.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from steploc.io import atomic_path


def nodes_schema(hidden: int) -> pa.Schema:
    return pa.schema([
        ("video_id", pa.string()),
        ("node", pa.int32()),
        ("start_feature", pa.int64()),
        ("end_feature", pa.int64()),
        ("features", pa.list_(pa.float32(), hidden)),
    ])


HIERARCHY_VIDEOS_SCHEMA = pa.schema([
    ("video_id", pa.string()),
    ("model", pa.string()),
    ("status", pa.string()),
    ("reason", pa.string()),
    ("depth", pa.int32()),
    ("n_features", pa.int64()),
    ("n_nodes", pa.int64()),
    ("feature_fingerprint", pa.string()),
])


def shard_segments_schema(dim: int) -> pa.Schema:
    return pa.schema([
        ("video_id", pa.string()),
        ("segment_idx", pa.int32()),
        ("start_node", pa.int64()),
        ("end_node", pa.int64()),
        ("start_feature", pa.int64()),
        ("end_feature", pa.int64()),
        ("cluster", pa.int32()),
        ("embedding", pa.list_(pa.float32(), dim)),
    ])


SEGMENT_VIDEOS_SCHEMA = pa.schema([
    ("video_id", pa.string()),
    ("model", pa.string()),
    ("setting", pa.string()),
    ("status", pa.string()),
    ("reason", pa.string()),
    ("n_nodes", pa.int64()),
    ("n_clusters_requested", pa.int64()),
    ("n_clusters", pa.int64()),
    ("note", pa.string()),
    ("node_labels_raw", pa.list_(pa.int32())),
    ("node_labels", pa.list_(pa.int32())),
])


def write_table(table: pa.Table, path: str | Path) -> None:
    with atomic_path(path) as tmp:
        pq.write_table(table, tmp)


def fixed_size_rows(rows: list[np.ndarray], width: int) -> pa.FixedSizeListArray:
    """``(n_i, width)`` float arrays as one fixed_size_list<float32>[width] column."""
    flat = (np.concatenate([r.reshape(-1) for r in rows]) if rows
            else np.zeros(0, np.float32)).astype(np.float32, copy=False)
    return pa.FixedSizeListArray.from_arrays(pa.array(flat, pa.float32()), width)


def fixed_size_matrix(column: pa.ChunkedArray | pa.Array, width: int) -> np.ndarray:
    """A fixed_size_list<float32>[width] column as an ``(n, width)`` float32 array."""
    array = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
    return np.asarray(array.flatten().to_numpy(zero_copy_only=False),
                      dtype=np.float32).reshape(-1, width)


@dataclass(frozen=True)
class VideoNodes:
    """One video's hierarchy output."""

    video_id: str
    status: str
    reason: str
    depth: int
    n_features: int
    features: np.ndarray  # (n_nodes, H) float32
    start_feature: np.ndarray  # (n_nodes,) int64
    end_feature: np.ndarray  # (n_nodes,) int64


def read_hierarchy(nodes_path: str | Path, videos_path: str | Path) -> dict[str, VideoNodes]:
    """The hierarchy output of a shard, by video id."""
    nodes = pq.read_table(nodes_path)
    videos = pq.read_table(videos_path).to_pylist()
    width = nodes.schema.field("features").type.list_size
    ids = nodes.column("video_id").to_numpy(zero_copy_only=False)
    features = fixed_size_matrix(nodes.column("features"), width)
    starts = nodes.column("start_feature").to_numpy()
    ends = nodes.column("end_feature").to_numpy()
    out = {}
    boundaries = np.flatnonzero(ids[1:] != ids[:-1]) + 1 if len(ids) else np.zeros(0, int)
    first = np.concatenate(([0], boundaries)) if len(ids) else np.zeros(0, int)
    last = np.concatenate((boundaries, [len(ids)])) if len(ids) else np.zeros(0, int)
    spans = {str(ids[a]): (a, b) for a, b in zip(first, last, strict=True)}
    for video in videos:
        a, b = spans.get(video["video_id"], (0, 0))
        out[video["video_id"]] = VideoNodes(
            video["video_id"], video["status"], video["reason"], int(video["depth"]),
            int(video["n_features"]), features[a:b], starts[a:b], ends[a:b])
    return out
