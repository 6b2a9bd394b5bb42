"""Dataset summaries in Parquet, gathered from the segment stage's per-shard tables.

``segments.parquet``
    one row per segment: ``video_id`` (string), ``activity_id`` (int64), ``segment_idx``
    (int32, 0-based in time order), ``start_s``, ``end_s`` (float64 seconds), ``cluster``
    (int32, the video's cluster label; ids are per video), ``start_feature``, ``end_feature``
    (int64: the feature rows ``[start, end)`` of the segment).
``step_embeddings.parquet``
    ``video_id``, ``segment_idx``, ``embedding`` (fixed_size_list<float32>[D]: mean of the
    original features inside the segment, not normalised; a plain list<float32> only when no
    video has features at all).
``videos.parquet``
    one row per video of the video table, processed or not: ``video_id``, ``activity_id``,
    ``model``, ``setting``, ``status`` (``ok`` / ``skipped``), ``reason``, ``n_features``,
    ``n_nodes``, ``n_clusters`` (K used; 0 when skipped), ``n_segments``, ``duration_s``,
    ``feature_period_s``, ``n_clusters_requested``, ``note`` (why K differs, if it does).

Seconds are computed here, once, from the feature rows and the video's real feature period:
``start_s = start_feature · period``, ``end_s = min(end_feature · period, video end)``, the
video end being ``n_features · period`` or the video's duration when that is shorter.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from steploc.intermediate import fixed_size_matrix, write_table

SEGMENTS_SCHEMA = pa.schema([
    ("video_id", pa.string()),
    ("activity_id", pa.int64()),
    ("segment_idx", pa.int32()),
    ("start_s", pa.float64()),
    ("end_s", pa.float64()),
    ("cluster", pa.int32()),
    ("start_feature", pa.int64()),
    ("end_feature", pa.int64()),
])

VIDEOS_SCHEMA = pa.schema([
    ("video_id", pa.string()),
    ("activity_id", pa.int64()),
    ("model", pa.string()),
    ("setting", pa.string()),
    ("status", pa.string()),
    ("reason", pa.string()),
    ("n_features", pa.int64()),
    ("n_nodes", pa.int64()),
    ("n_clusters", pa.int64()),
    ("n_segments", pa.int64()),
    ("duration_s", pa.float64()),
    ("feature_period_s", pa.float64()),
    ("n_clusters_requested", pa.int64()),
    ("note", pa.string()),
])


def embeddings_schema(dim: int | None) -> pa.Schema:
    """``embedding`` is ``fixed_size_list<float32>[dim]``; only when no video has a feature
    file at all (``dim`` unknown, the table is empty) it is a plain ``list<float32>``."""
    return pa.schema([
        ("video_id", pa.string()),
        ("segment_idx", pa.int32()),
        ("embedding", pa.list_(pa.float32()) if dim is None else pa.list_(pa.float32(), dim)),
    ])


def feature_dimension(video_table: pd.DataFrame) -> int | None:
    """The features' dimension (one for all videos), ``None`` when no video has features."""
    dims = video_table["feature_dim"].dropna()
    return int(dims.iloc[0]) if len(dims) else None


def video_end_s(n_features: int, period_s: float, duration_s: float) -> float:
    """Where a video's last segment ends: its features' span, or its duration if shorter."""
    end = n_features * period_s
    return min(end, duration_s) if np.isfinite(duration_s) else end


def summarize(video_table: pd.DataFrame, segment_tables: list[str | Path],
              segment_videos: list[str | Path], model: str, setting: str,
              segments_out: str | Path, embeddings_out: str | Path,
              videos_out: str | Path) -> dict[str, int]:
    """Write the three summary files of one model x setting from the shard tables.

    Every video of the video table gets a ``videos.parquet`` row. A processable video must be
    in the shard tables (else this fails: a partly processed dataset is never summarised as
    complete); a video skipped when the table was built is listed with its reason.
    """
    per_video = pd.concat([pd.read_parquet(p) for p in segment_videos], ignore_index=True) \
        if segment_videos else pd.DataFrame(columns=["video_id"])
    if per_video["video_id"].duplicated().any():
        raise ValueError(f"video(s) {sorted(per_video.loc[per_video['video_id'].duplicated(), 'video_id'])} "
                         "appear in two shard outputs")
    per_video = per_video.set_index("video_id")
    dim = feature_dimension(video_table)
    segment_parts = [pq.read_table(p) for p in segment_tables]
    shard_segments = (pa.concat_tables(segment_parts) if segment_parts else None)

    rows = []
    for r in video_table.itertuples(index=False):
        base = {"video_id": r.video_id, "activity_id": int(r.activity_id), "model": model,
                "setting": setting, "duration_s": float(r.duration_s),
                "feature_period_s": float(r.feature_period_s)}
        if r.status != "ok":
            rows.append({**base, "status": r.status, "reason": r.reason, "n_features": None,
                         "n_nodes": None, "n_clusters": 0, "n_segments": 0,
                         "n_clusters_requested": int(r.n_clusters), "note": ""})
            continue
        if r.video_id not in per_video.index:
            raise ValueError(f"no segment output for video {r.video_id!r} ({model}/{setting})")
        v = per_video.loc[r.video_id]
        rows.append({**base, "status": v["status"], "reason": v["reason"],
                     "n_features": int(r.n_features), "n_nodes": int(v["n_nodes"]),
                     "n_clusters": int(v["n_clusters"]), "n_segments": 0,
                     "n_clusters_requested": int(v["n_clusters_requested"]),
                     "note": v["note"]})
    videos = pd.DataFrame(rows)

    if shard_segments is not None and shard_segments.num_rows:
        order = np.lexsort((shard_segments.column("segment_idx").to_numpy(),
                            pd.Categorical(shard_segments.column("video_id").to_numpy(
                                zero_copy_only=False), categories=video_table["video_id"]).codes))
        shard_segments = shard_segments.take(pa.array(order))
        seg = shard_segments.select(["video_id", "segment_idx", "start_feature", "end_feature",
                                     "cluster"]).to_pandas()
        info = video_table.set_index("video_id").loc[seg["video_id"]]
        period = info["feature_period_s"].to_numpy(float)
        ends = np.array([video_end_s(int(n), p, float(d)) for n, p, d in
                         zip(info["n_features"], period, info["duration_s"], strict=True)])
        seg_table = pa.table({
            "video_id": pa.array(seg["video_id"], pa.string()),
            "activity_id": pa.array(info["activity_id"].to_numpy(np.int64)),
            "segment_idx": pa.array(seg["segment_idx"].to_numpy(np.int32)),
            "start_s": pa.array(np.minimum(seg["start_feature"].to_numpy() * period, ends)),
            "end_s": pa.array(np.minimum(seg["end_feature"].to_numpy() * period, ends)),
            "cluster": pa.array(seg["cluster"].to_numpy(np.int32)),
            "start_feature": pa.array(seg["start_feature"].to_numpy(np.int64)),
            "end_feature": pa.array(seg["end_feature"].to_numpy(np.int64)),
        }, schema=SEGMENTS_SCHEMA)
        counts = seg["video_id"].value_counts()
        videos["n_segments"] = videos["video_id"].map(counts).fillna(0).astype(int)
        width = shard_segments.schema.field("embedding").type.list_size
        embedding = pa.FixedSizeListArray.from_arrays(
            pa.array(fixed_size_matrix(shard_segments.column("embedding"), width).reshape(-1)),
            width)
        emb_table = pa.table({"video_id": seg_table.column("video_id"),
                              "segment_idx": seg_table.column("segment_idx"),
                              "embedding": embedding}, schema=embeddings_schema(dim))
    else:
        seg_table = SEGMENTS_SCHEMA.empty_table()
        emb_table = embeddings_schema(dim).empty_table()

    write_table(seg_table, segments_out)
    write_table(emb_table, embeddings_out)
    write_table(pa.Table.from_pandas(videos, schema=VIDEOS_SCHEMA, preserve_index=False),
                videos_out)
    return {"videos": len(videos), "segments": seg_table.num_rows,
            "skipped": int((videos["status"] != "ok").sum())}
