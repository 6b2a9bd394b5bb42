"""The segment stage for one video: hierarchy output -> clusters -> smoothed segments."""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np

from steploc.errors import InputError, VideoSkipped
from steploc.hierarchy import NodeSpans
from steploc.segment.segments import runs_to_segments
from steploc.segment.smoothing import smooth_labels
from steploc.segment.spectral import SpectralStepSegmenter

log = logging.getLogger(__name__)

OUTPUT_FORMAT = 1

#: Clustering settings and their defaults (``clustering.<name>`` in the config).
DEFAULT_SETTINGS = {
    "temperature": 0.05,
    "assign_labels": "auto",
    "random_state": 42,
    "smoothing": "mode",
    "smoothing_window": 5,
    "short_video": "skip",
}


@dataclass(frozen=True)
class SegmentVideo:
    video_id: str
    hierarchy_path: str
    feature_path: str
    n_clusters: int
    output_path: str
    array_key: str | None = None


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


def segment_video(node_features: np.ndarray, spans: NodeSpans, features: np.ndarray,
                  n_clusters: int, settings: dict) -> dict:
    """Cluster, smooth and cut one video; returns the arrays of its segment output."""
    s = {**DEFAULT_SETTINGS, **settings}
    k = choose_k(len(node_features), n_clusters, s["short_video"])
    segmenter = SpectralStepSegmenter(
        n_clusters=k,
        temperature=float(s["temperature"]),
        assign_labels=s["assign_labels"],
        random_state=int(s["random_state"]),
    )
    raw_labels = segmenter.fit_predict(node_features)
    labels = smooth_labels(raw_labels, s["smoothing"], int(s["smoothing_window"]))
    segs = runs_to_segments(labels, spans, features)
    return {
        "n_clusters": k,
        "node_labels_raw": raw_labels,
        "node_labels": labels,
        "segment_start_node": segs.start_node,
        "segment_end_node": segs.end_node,
        "segment_cluster": segs.cluster,
        "segment_start_s": segs.start_s,
        "segment_end_s": segs.end_s,
        "step_embeddings": segs.embeddings,
    }


def _empty_result(feature_dim: int) -> dict:
    empty_i = np.zeros(0, np.int64)
    empty_f = np.zeros(0, np.float64)
    return {
        "n_clusters": 0,
        "node_labels_raw": empty_i,
        "node_labels": empty_i,
        "segment_start_node": empty_i,
        "segment_end_node": empty_i,
        "segment_cluster": empty_i,
        "segment_start_s": empty_f,
        "segment_end_s": empty_f,
        "step_embeddings": np.zeros((0, feature_dim), np.float32),
    }


def run_segment(videos: list[SegmentVideo], model_name: str, setting_name: str,
                settings: dict) -> None:
    """Segment each video and write its output; too-short videos become recorded skips."""
    from steploc.features import load_features
    from steploc.io import read_npz, write_npz

    unknown = set(settings) - set(DEFAULT_SETTINGS)
    if unknown:
        raise ValueError(f"unknown clustering setting(s) {sorted(unknown)} in {setting_name!r}")
    results = []
    for v in videos:
        h = read_npz(v.hierarchy_path)
        n_features = int(h["n_features"])
        features = load_features(v.feature_path, v.array_key, v.video_id)
        if features.shape[0] != n_features:
            raise ValueError(
                f"video {v.video_id!r}: {v.feature_path} has {features.shape[0]} features but its "
                f"hierarchy output {v.hierarchy_path} was built from {n_features}; rerun hierarchy"
            )
        spans = NodeSpans(h["node_start_feature"], h["node_end_feature"],
                          h["node_start_s"], h["node_end_s"])
        status, reason = str(h["status"]), str(h["reason"])
        result = _empty_result(features.shape[1])
        if status == "ok" and not np.isfinite(h["node_features"]).all():
            raise InputError("non-finite node features in the hierarchy output (an overflow "
                             "upstream); rerun the hierarchy stage", video=v.video_id,
                             path=v.hierarchy_path)
        if status == "ok":
            try:
                result = segment_video(h["node_features"], spans, features, v.n_clusters, settings)
            except VideoSkipped as skip:
                status, reason = "skipped", skip.reason
            else:
                if not np.isfinite(result["step_embeddings"]).all():
                    raise InputError("segment stage: step embeddings overflow float32",
                                     video=v.video_id, path=v.feature_path)
        if status != "ok":
            log.warning("video %s skipped: %s", v.video_id, reason)
        results.append((v, {
            "format": OUTPUT_FORMAT,
            "video_id": v.video_id,
            "model": model_name,
            "setting": setting_name,
            "status": status,
            "reason": reason,
            "n_clusters_requested": v.n_clusters,
            "n_nodes": len(spans.start_feature),
            "n_features": n_features,
            "feature_period_s": float(h["feature_period_s"]),
            "duration_s": float(h["duration_s"]),
            **result,
        }))
        log.info("video %s: %s, %d segments", v.video_id, status, len(result["segment_cluster"]))
    for v, record in results:
        write_npz(v.output_path, record)
