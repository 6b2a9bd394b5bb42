"""The activity-level protocol: a hand-worked SYNTHETIC case, and three synthetic videos whose
per-video cluster ids are permuted: one matching per activity scores the raw ids low and the
procedure steps high."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

from steploc.metrics import score_video, segment_cells
from steploc.procedure import (
    ACTIVITY_SCORES_SCHEMA,
    activity_level_scores,
    procedure_steps,
    raw_cluster_activity_scores,
    score_activity,
)


def test_synthetic_hand_worked_activity_matching():
    # video A: gt [1,1,2,2], pred [0,0,1,1]; video B: gt [1,1,1,1,2,2], pred [1,1,1,1,0,0].
    # Pooled overlap: class 1: c0 = 2, c1 = 4; class 2: c0 = 2, c1 = 2 -> ONE assignment
    # c1 -> 1, c0 -> 2 (total 6 > 4). A is then all wrong, B all right.
    preds = [np.array([0, 0, 1, 1]), np.array([1, 1, 1, 1, 0, 0])]
    gts = [np.array([1, 1, 2, 2]), np.array([1, 1, 1, 1, 2, 2])]
    row = score_activity(preds, gts)
    assert row["mof"] == pytest.approx(6 / 10)
    # pairs (1, c1): inter 4, |g| 6, |c| 6; (2, c0): inter 2, |g| 4, |c| 4
    assert row["precision"] == pytest.approx((4 / 6 + 2 / 4) / 2)
    assert row["recall"] == pytest.approx((4 / 6 + 2 / 4) / 2)
    assert row["iou"] == pytest.approx((4 / 8 + 2 / 6) / 2)
    assert row["f1"] == pytest.approx(7 / 12)
    # A mapped [2,2,1,1]: 2 FP, 2 FN; B exact: 2 TP -> P = R = 1/2 at every τ
    for tau in ("0.10", "0.25", "0.50"):
        assert row[f"f1@{tau}"] == pytest.approx(0.5)
    assert row["edit"] == pytest.approx((0.0 + 1.0) / 2)  # A: [2,1] vs [1,2] -> 2 edits of 2
    assert row["n_cells"] == 10 and row["n_videos"] == 2
    # per-video matching would score both videos perfectly: the protocols differ
    assert score_video(preds[0], gts[0])["mof"] == 1.0


def test_synthetic_raw_ids_low_procedure_steps_high(synthetic):
    steps, _ = procedure_steps(synthetic.segments, synthetic.embeddings, synthetic.videos, {1: 4, 2: 5})
    ours = activity_level_scores(steps, synthetic.segments, synthetic.ground_truth, videos=synthetic.videos)
    raw = raw_cluster_activity_scores(synthetic.segments, synthetic.ground_truth, videos=synthetic.videos)
    for table in (ours, raw):
        assert list(table.columns) == ACTIVITY_SCORES_SCHEMA.names
        pa.Table.from_pandas(table, schema=ACTIVITY_SCORES_SCHEMA, preserve_index=False)
        assert (table["protocol"] == "activity").all()
    ours1 = ours.set_index("activity_id").loc[1]
    raw1 = raw.set_index("activity_id").loc[1]
    assert ours1["predictions"] == "procedure_steps" and raw1["predictions"] == "raw_clusters"
    assert ours1["videos_scored"] == raw1["videos_scored"] == 3
    assert ours1["videos_skipped"] == 1  # the video without features
    assert ours1["n_clusters"] == 4 and ours1["n_classes"] == 4 and ours1["n_cells"] == 36 + 36 + 39
    # only syn_v2's 3 background cells (covered by the last segment) are wrong
    assert ours1["mof"] == pytest.approx(108 / 111)
    assert ours1["mof"] > 0.95 and ours1["f1"] > 0.95 and ours1["f1@0.50"] > 0.95 and ours1["edit"] > 0.95
    # raw per-video ids: cyclic shifts by video, so ONE matching fits one video in three
    assert raw1["mof"] < 0.45 and raw1["f1"] < 0.45 and raw1["f1@0.50"] < 0.45
    assert ours1["mof"] - raw1["mof"] > 0.5
    # yet per video the raw ids are perfect: the per-video protocol cannot tell them apart
    for video_id in ["syn_v0", "syn_v1"]:
        seg = synthetic.segments[synthetic.segments["video_id"] == video_id]
        truth = synthetic.ground_truth.loc[video_id]
        pred = segment_cells(seg["start_feature"], seg["end_feature"], seg["cluster"], int(truth["n_cells"]), fill=4)
        assert score_video(pred, truth["labels"])["mof"] == 1.0


def test_synthetic_skipped_activity_gets_a_row(synthetic):
    steps, _ = procedure_steps(synthetic.segments, synthetic.embeddings, synthetic.videos, {1: 4, 2: 5})
    ours = activity_level_scores(steps, synthetic.segments, synthetic.ground_truth, videos=synthetic.videos)
    row = ours.set_index("activity_id").loc[2]
    assert row["status"] == "skipped" and "skipped by the clustering" in row["reason"]
    assert np.isnan(row["mof"])


def test_synthetic_mismatched_tables_raise(synthetic):
    steps, _ = procedure_steps(synthetic.segments, synthetic.embeddings, synthetic.videos, {1: 4})
    with pytest.raises(ValueError, match="some segments have a step"):
        activity_level_scores(steps.iloc[1:], synthetic.segments, synthetic.ground_truth)
    with pytest.raises(ValueError, match="missing from segments"):
        activity_level_scores(steps, synthetic.segments.iloc[1:], synthetic.ground_truth)
