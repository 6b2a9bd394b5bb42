"""EgoProceL precision / recall / IoU and dataset F1 (evaluation.md §2), hand-computed cases."""

import numpy as np
import pandas as pd
import pytest

from steploc.metrics import (
    dataset_f1,
    egoprocel_scores,
    f1_from_precision_recall,
    ground_truth_labels,
    overlap_matrix,
    predicted_labels,
)

WORKED_GT = [0, 0, 1, 1, 1, 2, 2, 2, 0, 0]
WORKED_PRED = [0, 0, 0, 1, 1, 1, 1, 1, 0, 0]


def assert_scores(scores, precision, recall, iou):
    assert scores == pytest.approx({"precision": precision, "recall": recall, "iou": iou})


def test_worked_example_of_evaluation_md():
    np.testing.assert_array_equal(overlap_matrix(WORKED_PRED, WORKED_GT), [[4, 0], [1, 2], [0, 3]])
    scores = egoprocel_scores(WORKED_PRED, WORKED_GT)
    # Pairs (background, c0): R 4/4, P 4/5, IoU 4/5 and (class 2, c1): R 3/3, P 3/5, IoU 3/5.
    assert_scores(scores, precision=0.7, recall=1.0, iou=0.7)
    assert f1_from_precision_recall(scores["precision"], scores["recall"]) == pytest.approx(2 * 0.7 / 1.7)


def test_perfect_prediction_scores_one():
    gt = [0, 0, 3, 3, 1, 1, 1, 2, 0]
    assert_scores(egoprocel_scores(gt, gt), 1.0, 1.0, 1.0)


def test_cluster_ids_are_arbitrary():
    permutation = np.array([5, 3, 0, 4, 1, 2])  # cluster c is renamed permutation[c]
    pred = np.array([0, 0, 1, 1, 2, 2, 2, 3, 4, 5])
    gt = np.array([0, 0, 1, 1, 1, 2, 2, 2, 3, 3])
    assert egoprocel_scores(permutation[pred], gt) == pytest.approx(egoprocel_scores(pred, gt))


def test_all_background_prediction_single_cluster():
    # One cluster covering all 6 points; whichever class it is matched with has 2 points:
    # R = 2/2, P = 2/6, IoU = 2/6.
    assert_scores(egoprocel_scores([0] * 6, [0, 0, 1, 1, 2, 2]), 1 / 3, 1.0, 1 / 3)


def test_empty_clusters_are_matchable_and_score_zero():
    # Same video with M = 7 declared clusters of which only cluster 0 is used: three classes are
    # matched, one with cluster 0 (R 1, P 1/3, IoU 1/3) and two with empty clusters (all 0).
    assert_scores(egoprocel_scores([0] * 6, [0, 0, 1, 1, 2, 2], n_clusters=7), 1 / 9, 1 / 3, 1 / 9)


def test_more_clusters_than_classes():
    gt = [0, 0, 1, 1, 1, 1, 2, 2]
    pred = [0, 0, 1, 1, 2, 2, 3, 3]
    # (bg, c0): 1, 1, 1; (class 1, c1 or c2): inter 2, |g| 4, |c| 2 -> R 1/2, P 1, IoU 1/2;
    # (class 2, c3): 1, 1, 1. The leftover cluster is unmatched and costs nothing.
    assert_scores(egoprocel_scores(pred, gt), 1.0, 5 / 6, 5 / 6)


def test_fewer_clusters_than_classes():
    gt = [0, 1, 1, 1, 2, 2, 2, 2, 3, 3]
    pred = [0, 0, 0, 0, 1, 1, 1, 1, 1, 1]
    # Best pairs (class 1, c0) = 3 and (class 2, c1) = 4; background and class 3 unmatched.
    # (1, c0): R 3/3, P 3/4, IoU 3/4; (2, c1): R 4/4, P 4/6, IoU 4/6.
    expected = (3 / 4 + 4 / 6) / 2
    assert_scores(egoprocel_scores(pred, gt), expected, 1.0, expected)


def test_class_never_predicted_is_unmatched_when_clusters_run_out():
    gt = [0, 0, 1, 1, 2, 2]
    pred = [0, 0, 1, 1, 0, 0]
    # Two clusters: (bg or class 2, c0): R 1, P 1/2, IoU 1/2; (class 1, c1): 1, 1, 1.
    assert_scores(egoprocel_scores(pred, gt), 0.75, 1.0, 0.75)


def test_class_never_predicted_paired_with_an_empty_cluster_scores_zero():
    gt = [0, 0, 1, 1, 2, 2]
    pred = [0, 0, 1, 1, 0, 0]
    # With a third, empty cluster every class is matched: the never-predicted class (or
    # background, symmetric) gets the empty cluster: R 0, P 0 (empty cluster), IoU 0.
    assert_scores(egoprocel_scores(pred, gt, n_clusters=3), (0.5 + 1 + 0) / 3, (1 + 1 + 0) / 3, (0.5 + 1 + 0) / 3)


def test_classes_absent_from_the_video_are_dropped():
    # K + 1 = 10 declared classes, only class 4 occurs; clusters 0/1 split it in half.
    # The pair (class 4, c0 or c1): R 1/2, P 1, IoU 1/2; pairs with absent classes are dropped.
    assert_scores(egoprocel_scores([0, 0, 1, 1], [4, 4, 4, 4], n_classes=10), 1.0, 0.5, 0.5)


def test_single_label_video():
    # Only background in the GT and three clusters: background pairs with c1 (3 points).
    assert_scores(egoprocel_scores([0, 1, 1, 1], [0, 0, 0, 0]), 1.0, 0.75, 0.75)
    # Single label in both: perfect.
    assert_scores(egoprocel_scores([2, 2, 2], [5, 5, 5]), 1.0, 1.0, 1.0)


def test_dataset_f1_uses_mean_precision_and_recall():
    precisions, recalls = [1.0, 0.2], [0.2, 1.0]
    # Each video has F1 = 2·0.2/1.2 = 1/3, so the mean of per-video F1s is 1/3; the dataset
    # F1 from P̄ = R̄ = 0.6 is 0.6.
    mean_of_video_f1 = np.mean([f1_from_precision_recall(p, r) for p, r in zip(precisions, recalls)])
    assert mean_of_video_f1 == pytest.approx(1 / 3)
    assert dataset_f1(precisions, recalls) == pytest.approx(0.6)


def test_dataset_f1_of_zeros_is_zero():
    assert dataset_f1([0.0, 0.0], [0.0, 0.0]) == 0.0


@pytest.mark.parametrize(
    ("precisions", "recalls", "message"),
    [([], [], "non-empty"), ([0.5], [0.5, 0.5], "1 precisions but 2 recalls"), ([1.5], [0.5], r"\[0, 1\]"),
     ([np.nan], [0.5], r"\[0, 1\]")],
)
def test_dataset_f1_rejects_invalid_input(precisions, recalls, message):
    with pytest.raises(ValueError, match=message):
        dataset_f1(precisions, recalls)


@pytest.mark.parametrize(
    ("pred", "gt", "kwargs", "message"),
    [
        ([0, 1], [0, 1, 1], {}, "same length"),
        ([0, -1], [0, 1], {}, "negative"),
        ([0, 1], [-2, 1], {}, "negative"),
        ([], [], {}, "empty"),
        ([0.0, 1.0], [0, 1], {}, "integer"),
        ([0, 1], [0.5, 1.0], {}, "integer"),
        ([True, False], [0, 1], {}, "integer"),
        ([[0, 1]], [[0, 1]], {}, "1-D"),
        ([0, 3], [0, 1], {"n_clusters": 3}, "n_clusters = 3"),
        ([0, 1], [0, 4], {"n_classes": 2}, "n_classes = 2"),
        ([0, 1], [0, 1], {"n_clusters": 0}, "positive integer"),
    ],
)
def test_invalid_labels_raise(pred, gt, kwargs, message):
    with pytest.raises(ValueError, match=message):
        egoprocel_scores(pred, gt, **kwargs)


def test_feature_rate_error_collapses_iou():
    """Times scaled by 16/30 (the notebook's feature-period error) must hurt IoU badly."""
    rng = np.random.default_rng(0)
    step_starts = 20.0 + 110.0 * np.arange(8)
    step_ends = step_starts + 100.0
    steps = pd.DataFrame({"step_id": np.arange(101, 109), "start_s": step_starts, "end_s": step_ends})
    n_cells, period_s = 910, 1.0
    gt = ground_truth_labels(steps, n_cells, period_s)

    # A good but imperfect segmentation: boundaries off by up to 3 s, clusters in scrambled order.
    pred_starts = step_starts + rng.uniform(-3, 3, size=8)
    pred_ends = step_ends + rng.uniform(-3, 3, size=8)
    clusters = rng.permutation(8)
    correct = predicted_labels(pred_starts, pred_ends, clusters, n_cells, period_s, n_clusters=8)
    scale = 16 / 30
    compressed = predicted_labels(pred_starts * scale, pred_ends * scale, clusters, n_cells, period_s, n_clusters=8)

    correct_iou = egoprocel_scores(correct, gt, n_clusters=9)["iou"]
    compressed_iou = egoprocel_scores(compressed, gt, n_clusters=9)["iou"]
    assert correct_iou > 0.9
    assert compressed_iou < 0.5 * correct_iou


def test_unused_lower_cluster_ids_are_empty_clusters():
    # Default n_clusters = max(pred) + 1 = 2, so cluster 0 exists but is empty: the pairs are
    # (a 2-point class, c1): R 1, P 1/2, IoU 1/2 and (the other class, c0): all 0.
    assert_scores(egoprocel_scores([1, 1, 1, 1], [0, 0, 1, 1]), 0.25, 0.5, 0.25)
