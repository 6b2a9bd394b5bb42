"""The segment stage of one shard: hierarchy output -> clusters -> smoothed step segments."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from steploc.errors import InputError, VideoSkipped
from steploc.intermediate import VideoNodes
from steploc.schema import common_clustering_keys, defaults
from steploc.segment.factory import make_segmenter
from steploc.segment.memory import SegmenterTooLarge
from steploc.segment.segments import StepSegments, runs_to_segments
from steploc.segment.smoothing import smooth_labels

log = logging.getLogger(__name__)


def choose_k(n_nodes: int, n_clusters: int, short_video: str) -> int:
    """K for a video with ``n_nodes`` nodes, or :class:`VideoSkipped` when it is too short.

    Fewer than 2 nodes cannot be clustered. Fewer nodes than K is a recorded skip by default
    (``short_video: skip``); ``short_video: cap`` clusters it with K capped at the node count.
    """
    if n_nodes < 2:
        raise VideoSkipped(f"too short to cluster: {n_nodes} node(s)")
    if n_nodes < n_clusters:
        if short_video == "cap":
            return n_nodes
        raise VideoSkipped(f"too short to cluster: {n_nodes} nodes < K = {n_clusters} clusters")
    return n_clusters


@dataclass
class SegmentResult:
    """What the segment stage found for one video."""

    n_clusters: int
    labels_raw: np.ndarray
    labels: np.ndarray
    segments: StepSegments
    note: str = ""
    extra: dict = field(default_factory=dict)


def segment_video(nodes: VideoNodes, features: np.ndarray, n_clusters: int,
                  settings: dict, memory_limit_mb: float | None = None) -> SegmentResult:
    """Cluster, smooth and cut one video (``settings``: a ``clustering.<name>`` entry)."""
    s = {**defaults("clustering", "*"), **settings}
    k = choose_k(len(nodes.features), n_clusters, s["short_video"])
    common = common_clustering_keys()
    segmenter = make_segmenter(s["method"], k, memory_limit_mb=memory_limit_mb,
                               **{key: value for key, value in s.items() if key not in common})
    raw_labels = np.asarray(segmenter.fit_predict(nodes.features), dtype=np.int64)
    labels = smooth_labels(raw_labels, s["smoothing"], int(s["smoothing_window"]))
    segments = runs_to_segments(labels, nodes.start_feature, nodes.end_feature, features)
    return SegmentResult(int(getattr(segmenter, "n_clusters_", k)), raw_labels, labels,
                         segments, str(getattr(segmenter, "note_", "") or ""))


def run_segment(videos: pd.DataFrame, feature_paths: list[str],
                hierarchy: dict[str, VideoNodes], model_name: str, setting_name: str,
                settings: dict, segments_out: str | Path, videos_out: str | Path,
                array_key: str | None = None, memory_limit_mb: float | None = None) -> None:
    """Segment one shard's ``videos`` (video-table rows, ``feature_paths`` in the same order)
    from their ``hierarchy`` output and write the shard's two tables
    (:mod:`steploc.intermediate`). Too-short videos are recorded skips; a fit that would need
    more than ``memory_limit_mb`` (the job's ``mem_mb``) fails naming the video, before it
    allocates."""
    import pyarrow as pa

    from steploc.features import frame_rows, load_feature_array
    from steploc.intermediate import (
        SEGMENT_VIDEOS_SCHEMA,
        fixed_size_rows,
        shard_segments_schema,
        write_table,
    )
    from steploc.video_table import check_feature_paths

    rows = list(videos.itertuples(index=False))
    check_feature_paths(rows, feature_paths)
    dim = int(rows[0].feature_dim)
    seg_columns: dict[str, list] = {name: [] for name in
                                    ("video_id", "segment_idx", "start_node", "end_node",
                                     "start_feature", "end_feature", "cluster")}
    embeddings, video_rows = [], []
    for r, path in zip(rows, feature_paths, strict=True):
        nodes = hierarchy.get(r.video_id)
        if nodes is None:
            raise InputError(f"video {r.video_id!r} is missing from the hierarchy output; "
                             "rerun the hierarchy stage")
        if nodes.n_features != int(r.n_features):
            raise InputError(f"the hierarchy output was built from {nodes.n_features} features "
                             f"but the file has {int(r.n_features)}; rerun the hierarchy stage",
                             video=r.video_id, path=path)
        status, reason, n_seg = nodes.status, nodes.reason, 0
        k_requested = int(r.n_clusters)
        row = {"video_id": r.video_id, "model": model_name, "setting": setting_name,
               "n_nodes": len(nodes.features), "n_clusters_requested": k_requested,
               "n_clusters": 0, "note": "", "node_labels_raw": [], "node_labels": []}
        if status == "ok":
            if not np.isfinite(nodes.features).all():
                raise InputError("non-finite node features in the hierarchy output (an "
                                 "overflow upstream); rerun the hierarchy stage",
                                 video=r.video_id, path=path)
            # The hierarchy stage validated this file (and its fingerprint); read it as stored.
            features = frame_rows(load_feature_array(path, array_key, r.video_id),
                                  str(r.feature_layout), int(r.n_features), dim)
            try:
                result = segment_video(nodes, features, k_requested, settings,
                                       memory_limit_mb)
            except VideoSkipped as skip:
                status, reason = "skipped", skip.reason
            except SegmenterTooLarge as exc:
                raise InputError(str(exc), video=r.video_id, path=path) from None
            else:
                seg = result.segments
                if not np.isfinite(seg.embeddings).all():
                    raise InputError("segment stage: step embeddings overflow float32",
                                     video=r.video_id, path=path)
                n_seg = len(seg)
                seg_columns["video_id"].extend([r.video_id] * n_seg)
                seg_columns["segment_idx"].append(np.arange(n_seg, dtype=np.int32))
                for name in ("start_node", "end_node", "start_feature", "end_feature",
                             "cluster"):
                    seg_columns[name].append(getattr(seg, name))
                embeddings.append(seg.embeddings)
                row.update(n_clusters=result.n_clusters, note=result.note,
                           node_labels_raw=result.labels_raw.astype(np.int32),
                           node_labels=result.labels.astype(np.int32))
                if result.note:
                    log.warning("video %s: %s", r.video_id, result.note)
        if status != "ok":
            log.warning("video %s skipped: %s", r.video_id, reason)
        row.update(status=status, reason=reason)
        video_rows.append(row)
        log.info("video %s: %s, %d segments", r.video_id, status, n_seg)

    def column(name, dtype):
        parts = seg_columns[name]
        return pa.array(np.concatenate(parts).astype(dtype) if parts else np.zeros(0, dtype))

    segments = pa.table({
        "video_id": pa.array(seg_columns["video_id"], pa.string()),
        "segment_idx": column("segment_idx", np.int32),
        "start_node": column("start_node", np.int64),
        "end_node": column("end_node", np.int64),
        "start_feature": column("start_feature", np.int64),
        "end_feature": column("end_feature", np.int64),
        "cluster": column("cluster", np.int32),
        "embedding": fixed_size_rows(embeddings, dim),
    }, schema=shard_segments_schema(dim))
    write_table(segments, segments_out)
    write_table(pa.Table.from_pylist(video_rows, schema=SEGMENT_VIDEOS_SCHEMA), videos_out)
