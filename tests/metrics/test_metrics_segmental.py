"""Segmental F1@τ and Edit after the per-video Hungarian mapping (evaluation.md §4)."""

import numpy as np
import pytest

from steploc.metrics import (
    STANDARD_OVERLAPS,
    edit_score,
    f1_from_counts,
    label_segments,
    levenshtein_distance,
    segmental_counts,
    segmental_f1,
)

WORKED_GT = [0, 0, 1, 1, 1, 2, 2, 2, 0, 0]
WORKED_PRED = [0, 0, 0, 1, 1, 1, 1, 1, 0, 0]


def test_label_segments_drop_background_runs():
    segments = label_segments(np.array([0, 0, 1, 1, 1, 2, 2, 2, 0, 0]))
    np.testing.assert_array_equal(segments.labels, [1, 2])
    np.testing.assert_array_equal(segments.starts, [2, 5])
    np.testing.assert_array_equal(segments.ends, [5, 8])
    # Runs reaching the sequence ends; same label on both sides of background stays two segments.
    segments = label_segments(np.array([3, 3, 0, 3]))
    np.testing.assert_array_equal(segments.labels, [3, 3])
    np.testing.assert_array_equal(segments.starts, [0, 3])
    np.testing.assert_array_equal(segments.ends, [2, 4])


@pytest.mark.parametrize("overlap", STANDARD_OVERLAPS)
def test_worked_example_f1(overlap):
    # Mapped prediction [0,0,0,2,2,2,2,2,0,0]: one segment (2, 3–8) vs GT (1, 2–5), (2, 5–8);
    # IoU with the class-2 segment is 3/5 -> TP = 1, FP = 0, FN = 1, F1 = 2/3.
    assert segmental_counts(WORKED_PRED, WORKED_GT, overlap) == (1, 0, 1)
    assert segmental_f1(WORKED_PRED, WORKED_GT, overlap) == pytest.approx(2 / 3)


def test_worked_example_edit():
    # Labels [2] vs [1, 2]: one deletion over max length 2 -> 1 − 1/2.
    assert edit_score(WORKED_PRED, WORKED_GT) == pytest.approx(0.5)


def test_perfect_and_permuted_prediction():
    gt = np.array([0, 1, 1, 2, 2, 2, 0, 3, 3, 1])
    permuted = np.array([2, 0, 3, 1])[gt]
    for pred in (gt, permuted):
        assert edit_score(pred, gt) == 1.0
        for overlap in STANDARD_OVERLAPS:
            assert segmental_f1(pred, gt, overlap) == 1.0


def test_threshold_decides_true_positive():
    # Already-mapped labels: predicted (1, 7–13) vs GT (1, 0–10): IoU = 3/13 ≈ 0.23.
    gt = [1] * 10 + [0] * 10
    pred = [0] * 7 + [1] * 6 + [0] * 7
    assert segmental_counts(pred, gt, 0.10, relabel=False) == (1, 0, 0)
    assert segmental_counts(pred, gt, 0.25, relabel=False) == (0, 1, 1)
    assert segmental_f1(pred, gt, 0.25, relabel=False) == 0.0


def test_a_gt_segment_is_matched_only_once():
    # Predicted (1, 0–4) IoU 0.4 and (1, 5–10) IoU 0.5 both best-match GT (1, 0–10).
    gt = [1] * 10
    pred = [1, 1, 1, 1, 0, 1, 1, 1, 1, 1]
    # τ = 0.25: first is TP, second finds its GT segment taken -> FP.
    assert segmental_counts(pred, gt, 0.25, relabel=False) == (1, 1, 0)
    # τ = 0.50: first (0.4) is FP, second (0.5 ≥ 0.5) is TP.
    assert segmental_counts(pred, gt, 0.50, relabel=False) == (1, 1, 0)
    assert edit_score(pred, gt, relabel=False) == pytest.approx(0.5)


def test_unmatched_cluster_segments_are_false_positives():
    # GT one class; cluster 1 matches class 1, cluster 0 stays unmatched (class 0 is absent)
    # and keeps a distinct id -> its segment is an FP and an edit insertion.
    gt = [1] * 10
    pred = [0, 0, 0, 1, 1, 1, 1, 1, 1, 1]
    assert segmental_counts(pred, gt, 0.5) == (1, 1, 0)
    assert segmental_f1(pred, gt, 0.5) == pytest.approx(2 / 3)
    assert edit_score(pred, gt) == pytest.approx(0.5)


def test_more_clusters_than_classes_penalises_over_segmentation():
    # GT: (1, 0–4), (2, 4–8). Prediction splits class 1 in two clusters; the smaller one is
    # unmatched. Mapped: [1,1,1,X,2,2,2,2] -> segments 1 (IoU 3/4), X (FP), 2 (IoU 1).
    gt = [1, 1, 1, 1, 2, 2, 2, 2]
    pred = [0, 0, 0, 5, 1, 1, 1, 1]
    assert segmental_counts(pred, gt, 0.5) == (2, 1, 0)
    assert segmental_f1(pred, gt, 0.5) == pytest.approx(2 * (2 / 3) * 1 / (2 / 3 + 1))
    assert edit_score(pred, gt) == pytest.approx(1 - 1 / 3)


def test_fewer_clusters_than_classes_misses_segments():
    # One cluster over three GT classes (no background): matched with one class, say 1.
    gt = [1, 1, 2, 2, 3, 3]
    pred = [0] * 6
    # Mapped prediction is one segment over 0–6; its class segment has IoU 2/6 = 1/3.
    assert segmental_counts(pred, gt, 0.25) == (1, 0, 2)
    assert segmental_counts(pred, gt, 0.50) == (0, 1, 3)
    assert edit_score(pred, gt) == pytest.approx(1 - 2 / 3)


def test_all_background_prediction():
    # One cluster matched to background (4 of 6 points): nothing predicted outside background.
    gt = [0, 0, 1, 1, 0, 0]
    pred = [0] * 6
    assert segmental_counts(pred, gt, 0.1) == (0, 0, 1)
    assert segmental_f1(pred, gt, 0.1) == 0.0
    assert edit_score(pred, gt) == 0.0


def test_all_background_on_both_sides():
    assert edit_score([0, 0, 0], [0, 0, 0]) == 1.0
    assert segmental_counts([0, 0, 0], [0, 0, 0], 0.5) == (0, 0, 0)


def test_f1_from_counts():
    assert f1_from_counts(3, 1, 2) == pytest.approx(2 * 0.75 * 0.6 / 1.35)
    assert f1_from_counts(0, 0, 0) == 0.0


@pytest.mark.parametrize(
    ("source", "target", "distance"),
    [("kitten", "sitting", 3), ("", "abc", 3), ("abc", "", 3), ("", "", 0), ("flaw", "lawn", 2), ("abc", "abc", 0)],
)
def test_levenshtein_distance(source, target, distance):
    as_codes = lambda text: np.array([ord(c) for c in text], dtype=np.int64)  # noqa: E731
    assert levenshtein_distance(as_codes(source), as_codes(target)) == distance


@pytest.mark.parametrize("overlap", [0.0, -0.1, 1.5])
def test_invalid_overlap_raises(overlap):
    with pytest.raises(ValueError, match="overlap"):
        segmental_counts([0, 1], [0, 1], overlap)


@pytest.mark.parametrize(
    ("pred", "gt", "message"),
    [([0, 1], [0], "same length"), ([0, -1], [0, 0], "negative"), ([], [], "empty"), ([0.5, 1], [0, 1], "integer")],
)
def test_invalid_labels_raise(pred, gt, message):
    with pytest.raises(ValueError, match=message):
        segmental_f1(pred, gt, 0.5)
    with pytest.raises(ValueError, match=message):
        edit_score(pred, gt)
