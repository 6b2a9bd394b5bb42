"""Dataset summaries in Parquet, aggregated from the per-video segment outputs.

``segments.parquet``
    one row per segment: ``video_id`` (string), ``activity_id`` (int64), ``segment_idx``
    (int32, 0-based in time order), ``start_s``, ``end_s`` (float64 seconds), ``cluster``
    (int32, the video's cluster label; ids are per video).
``step_embeddings.parquet``
    ``video_id``, ``segment_idx``, ``embedding`` (fixed_size_list<float32>[D]: mean of the
    original features inside the segment, not normalised).
``videos.parquet``
    one row per video of the params table, processed or not: ``video_id``, ``activity_id``,
    ``model``, ``setting``, ``status`` (``ok`` / ``skipped``), ``reason``, ``n_features``,
    ``n_nodes``, ``n_clusters`` (K used; 0 when skipped), ``n_segments``, ``duration_s``,
    ``feature_period_s``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from steploc.io import atomic_path, read_npz

SEGMENTS_SCHEMA = pa.schema([
    ("video_id", pa.string()),
    ("activity_id", pa.int64()),
    ("segment_idx", pa.int32()),
    ("start_s", pa.float64()),
    ("end_s", pa.float64()),
    ("cluster", pa.int32()),
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
])


def embeddings_schema(dim: int | None) -> pa.Schema:
    """``embedding`` is ``fixed_size_list<float32>[dim]``; only when no video has a feature
    file at all (``dim`` unknown, the table is empty) it is a plain ``list<float32>``."""
    return pa.schema([
        ("video_id", pa.string()),
        ("segment_idx", pa.int32()),
        ("embedding", pa.list_(pa.float32()) if dim is None else pa.list_(pa.float32(), dim)),
    ])


def feature_dimension(params_table: pd.DataFrame) -> int | None:
    """The features' dimension (one for all videos), ``None`` when no video has features."""
    dims = params_table["feature_dim"].dropna()
    return int(dims.iloc[0]) if len(dims) else None


def _write(table: pa.Table, path: Path) -> None:
    with atomic_path(path) as tmp:
        pq.write_table(table, tmp)


def summarize(params_table: pd.DataFrame, segment_files: dict[str, str | Path], model: str,
              setting: str, out_dir: str | Path) -> dict[str, int]:
    """Write the three summary files for one model x setting.

    Every video of the params table gets a ``videos.parquet`` row. A video with features must
    have a segment output (else this fails: a partly processed dataset is never summarised as
    complete); a video skipped in the params stage is listed with its reason.
    """
    out_dir = Path(out_dir)
    seg_cols: dict[str, list] = {name: [] for name in SEGMENTS_SCHEMA.names}
    emb_ids, emb_idx, emb_rows = [], [], []
    video_rows = []
    dim = feature_dimension(params_table)
    for row in params_table.itertuples(index=False):
        base = {"video_id": row.video_id, "activity_id": int(row.activity_id), "model": model,
                "setting": setting, "duration_s": float(row.duration_s),
                "feature_period_s": float(row.feature_period_s)}
        if row.status != "ok":
            video_rows.append({**base, "status": row.status, "reason": row.reason,
                               "n_features": None, "n_nodes": None, "n_clusters": 0,
                               "n_segments": 0})
            continue
        if row.video_id not in segment_files:
            raise ValueError(f"no segment output for video {row.video_id!r} ({model}/{setting})")
        seg = read_npz(segment_files[row.video_id])
        if str(seg["video_id"]) != row.video_id:
            raise ValueError(f"{segment_files[row.video_id]} holds video {seg['video_id']}, "
                             f"expected {row.video_id!r}")
        n_seg = len(seg["segment_cluster"])
        video_rows.append({**base, "status": str(seg["status"]), "reason": str(seg["reason"]),
                           "n_features": int(seg["n_features"]), "n_nodes": int(seg["n_nodes"]),
                           "n_clusters": int(seg["n_clusters"]), "n_segments": n_seg})
        if n_seg == 0:
            continue
        seg_cols["video_id"].extend([row.video_id] * n_seg)
        seg_cols["activity_id"].extend([int(row.activity_id)] * n_seg)
        seg_cols["segment_idx"].append(np.arange(n_seg, dtype=np.int32))
        seg_cols["start_s"].append(seg["segment_start_s"])
        seg_cols["end_s"].append(seg["segment_end_s"])
        seg_cols["cluster"].append(seg["segment_cluster"].astype(np.int32))
        emb = seg["step_embeddings"].astype(np.float32)
        if emb.shape[1] != dim:
            raise ValueError(f"video {row.video_id!r}: embedding dimension {emb.shape[1]} != {dim}")
        emb_ids.extend([row.video_id] * n_seg)
        emb_idx.append(np.arange(n_seg, dtype=np.int32))
        emb_rows.append(emb)

    def concat(parts, dtype):
        return np.concatenate(parts).astype(dtype) if parts else np.zeros(0, dtype)

    segments = pa.table({
        "video_id": pa.array(seg_cols["video_id"], pa.string()),
        "activity_id": pa.array(seg_cols["activity_id"], pa.int64()),
        "segment_idx": pa.array(concat(seg_cols["segment_idx"], np.int32)),
        "start_s": pa.array(concat(seg_cols["start_s"], np.float64)),
        "end_s": pa.array(concat(seg_cols["end_s"], np.float64)),
        "cluster": pa.array(concat(seg_cols["cluster"], np.int32)),
    }, schema=SEGMENTS_SCHEMA)
    flat = pa.array(np.concatenate(emb_rows).reshape(-1) if emb_rows
                    else np.zeros(0, np.float32), pa.float32())
    embedding_column = (pa.array([], pa.list_(pa.float32())) if dim is None
                        else pa.FixedSizeListArray.from_arrays(flat, dim))
    embeddings = pa.table({
        "video_id": pa.array(emb_ids, pa.string()),
        "segment_idx": pa.array(concat(emb_idx, np.int32)),
        "embedding": embedding_column,
    }, schema=embeddings_schema(dim))
    videos = pa.Table.from_pylist(video_rows, schema=VIDEOS_SCHEMA)
    _write(segments, out_dir / "segments.parquet")
    _write(embeddings, out_dir / "step_embeddings.parquet")
    _write(videos, out_dir / "videos.parquet")
    return {"videos": len(video_rows), "segments": segments.num_rows,
            "skipped": sum(r["status"] != "ok" for r in video_rows)}
