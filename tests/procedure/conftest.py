"""SYNTHETIC inputs of the procedure tests: summary tables (segments, step embeddings, videos) and
a ground-truth table in the schema of :mod:`steploc.ground_truth`, for a made-up recipe.

Activity 1 ("synthetic omelette"): three videos perform the same four steps (step ids 11..14),
v1 in a different order; each step is two segments whose embeddings are the step's random
prototype plus small noise. The per-video cluster ids are permuted (cyclic shift by the video's
index), as a per-video clustering would number them. v2 ends with background cells. A fourth
video is skipped (no features). Activity 2 has one video with two segments only (fewer than its
K = 5). Feature period 1 s, so feature rows are seconds.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from steploc.ground_truth import GROUND_TRUTH_SCHEMA
from steploc.metrics import ground_truth_labels, step_class_numbering

STEP_NAMES = {11: "Crack the eggs", 12: "Whisk", 13: "Add 1 tsp salt", 14: "Fry"}

#: video -> (step order, step durations in s, trailing background cells)
SYNTHETIC_VIDEOS = {
    "syn_v0": ([11, 12, 13, 14], [8, 10, 6, 12], 0),
    "syn_v1": ([11, 13, 12, 14], [10, 8, 9, 9], 0),
    "syn_v2": ([11, 12, 13, 14], [6, 12, 10, 8], 3),
}
DIM = 16


@dataclass
class SyntheticProcedure:
    segments: pd.DataFrame
    embeddings: pd.DataFrame
    videos: pd.DataFrame
    video_table: pd.DataFrame
    ground_truth: pd.DataFrame
    annotations: pd.DataFrame
    true_step: pd.Series  # (video_id, segment_idx) -> ground-truth step id of the segment


def _video_row(video_id, activity_id, n_features, n_segments, k, status="ok", reason=""):
    return {"video_id": video_id, "activity_id": activity_id, "model": "synthetic", "setting": "raw",
            "status": status, "reason": reason, "n_features": n_features if status == "ok" else None,
            "n_nodes": n_features if status == "ok" else None, "n_clusters": k if status == "ok" else 0,
            "n_segments": n_segments, "duration_s": float(n_features) if status == "ok" else 50.0,
            "feature_period_s": 1.0, "n_clusters_requested": k, "note": ""}


def _ground_truth_table(video_table: pd.DataFrame, annotations: pd.DataFrame) -> pd.DataFrame:
    """The table of :mod:`steploc.ground_truth` (its schema; read back as
    ``read_ground_truth`` does), built with the same steploc.metrics grid rules."""
    by_video = dict(tuple(annotations.groupby("recording_id")))
    rows = []
    for r in video_table.itertuples(index=False):
        row = {"video_id": r.video_id, "activity_id": int(r.activity_id), "status": "skipped",
               "reason": r.reason, "n_cells": 0, "period_s": float(r.feature_period_s), "labels": [],
               "class_labels": [], "class_names": []}
        if r.status == "ok":
            steps = by_video[r.video_id]
            numbering = step_class_numbering(steps)
            order = sorted(numbering, key=numbering.get)
            names = dict(zip(steps["step_id"], steps["description"]))
            row.update(status="ok", n_cells=int(r.n_features), class_labels=order,
                       class_names=[names[s].split("-", 1)[-1] for s in order],
                       labels=ground_truth_labels(steps, int(r.n_features), float(r.feature_period_s),
                                                  step_classes=numbering).astype(np.int32))
        rows.append(row)
    table = pa.Table.from_pylist(rows, schema=GROUND_TRUTH_SCHEMA).to_pandas()
    table["labels"] = [np.asarray(v, dtype=np.int64) for v in table["labels"]]
    return table


def make_synthetic_procedure(noise: float = 0.08, seed: int = 7) -> SyntheticProcedure:
    rng = np.random.default_rng(seed)
    prototypes = {step: rng.normal(size=DIM) for step in STEP_NAMES}
    segments, embeddings, videos, annotations, truth = [], [], [], [], {}
    for index, (video_id, (order, durations, tail)) in enumerate(SYNTHETIC_VIDEOS.items()):
        t, segment_idx = 0, 0
        for step, duration in zip(order, durations):
            annotations.append({"recording_id": video_id, "step_id": step, "start_s": float(t),
                                "end_s": float(t + duration), "description": f"Verb-{STEP_NAMES[step]}"})
            cluster = (sorted(STEP_NAMES).index(step) + index) % 4  # per-video ids, permuted
            half = duration // 2
            pieces = [(t, t + half), (t + half, t + duration)]
            if step == order[-1] and tail:
                pieces[-1] = (t + half, t + duration + tail)  # the last segment runs into background
            for start, end in pieces:
                segments.append({"video_id": video_id, "activity_id": 1, "segment_idx": segment_idx,
                                 "start_s": float(start), "end_s": float(end), "cluster": cluster,
                                 "start_feature": start, "end_feature": end})
                embeddings.append({"video_id": video_id, "segment_idx": segment_idx,
                                   "embedding": (3.0 * (prototypes[step] + noise * rng.normal(size=DIM)))
                                   .astype(np.float32)})
                truth[(video_id, segment_idx)] = step
                segment_idx += 1
            t += duration
        n_features = t + tail
        videos.append(_video_row(video_id, 1, n_features, segment_idx, 4))
    videos.append(_video_row("syn_v3_skipped", 1, 0, 0, 4, status="skipped", reason="no feature file"))
    # activity 2: one video, two segments, K = 5 -> skipped by the clustering
    for segment_idx, (start, end) in enumerate([(0, 5), (5, 10)]):
        segments.append({"video_id": "syn_w0", "activity_id": 2, "segment_idx": segment_idx,
                         "start_s": float(start), "end_s": float(end), "cluster": segment_idx,
                         "start_feature": start, "end_feature": end})
        embeddings.append({"video_id": "syn_w0", "segment_idx": segment_idx,
                           "embedding": rng.normal(size=DIM).astype(np.float32)})
    videos.append(_video_row("syn_w0", 2, 10, 2, 5))
    annotations.append({"recording_id": "syn_w0", "step_id": 21, "start_s": 0.0, "end_s": 10.0,
                        "description": "Verb-Only step"})

    videos_frame = pd.DataFrame(videos)
    video_table = videos_frame.assign(
        activity_name=videos_frame["activity_id"].map({1: "synthetic omelette", 2: "synthetic tea"}),
        n_features=videos_frame["n_features"].fillna(0).astype(int))
    gt = _ground_truth_table(video_table, pd.DataFrame(annotations))
    seg = pd.DataFrame(segments).astype({"segment_idx": np.int32, "cluster": np.int32})
    emb = pd.DataFrame(embeddings).astype({"segment_idx": np.int32})
    return SyntheticProcedure(seg, emb, videos_frame, video_table, gt.set_index("video_id", drop=False),
                              pd.DataFrame(annotations), pd.Series(truth))


@pytest.fixture
def synthetic():
    return make_synthetic_procedure()
