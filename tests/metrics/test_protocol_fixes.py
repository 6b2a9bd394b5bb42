"""Two protocol details checked against the published code (synthetic label sequences):
Hungarian ties resolve as in HiERO's float32 cost, and EgoProceL's M is the video's K."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from steploc.evaluate import evaluate_run
from steploc.metrics import egoprocel_scores, hungarian_pairs, overlap_matrix


def test_ties_resolve_as_hiero_float32_cost():
    """HiERO egoprocel/evaluate.py builds 1 - O.float()/n in float32; both assignments of this
    example have the same total overlap, and float32 rounding picks HiERO's."""
    pred, gt = [1, 1, 1, 0, 1, 1], [1, 1, 1, 1, 0, 0]
    scores = egoprocel_scores(pred, gt, n_clusters=2)
    assert scores == pytest.approx({"precision": 0.70, "recall": 0.625, "iou": 0.325})


def test_exact_cost_is_still_available_and_differs_on_that_tie():
    overlap = overlap_matrix([1, 1, 1, 0, 1, 1], [1, 1, 1, 1, 0, 0], n_clusters=2)
    exact = hungarian_pairs(overlap, cost_dtype=np.float64)
    hiero = hungarian_pairs(overlap)
    assert overlap[exact].sum() == overlap[hiero].sum()  # a true tie
    assert not np.array_equal(exact[1], hiero[1])


def test_egoprocel_m_is_the_videos_k_not_the_clusters_used():
    """K = 3 requested, the prediction uses 2 clusters (smoothing emptied one): the empty
    cluster stays a column, is matched, and scores precision 0 (protocol), so P drops."""
    table = pd.DataFrame([{"video_id": "v", "activity_id": 1, "activity_name": "a",
                           "n_clusters": 3, "status": "ok", "reason": ""}])
    truth = pd.DataFrame([{"video_id": "v", "status": "ok", "reason": "",
                           "labels": np.array([0, 0, 1, 1, 2, 2])}]).set_index("video_id",
                                                                            drop=False)
    segments = pd.DataFrame({"video_id": ["v", "v"], "start_feature": [0, 2],
                             "end_feature": [2, 6], "cluster": [0, 1]})
    summary = pd.DataFrame([{"video_id": "v", "status": "ok", "reason": "", "n_clusters": 3}])
    per_video, _ = evaluate_run(table, truth, "m", "s", segments, summary)
    row = per_video.iloc[0]
    # pairs: c0-background (P 1), c1-class 1 or 2 (P 0.5), empty c2-the other (P 0, R 0);
    # with M = clusters used (2) the last class goes unmatched and P would be 0.75
    assert row["precision"] == pytest.approx(0.5)
    assert row["recall"] == pytest.approx(2 / 3)
    assert row["n_clusters"] == 3
