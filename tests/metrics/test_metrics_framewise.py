"""MoF after Hungarian matching, per video and per activity (evaluation.md §3)."""

import numpy as np
import pytest

from steploc.metrics import hungarian_relabel, mof, mof_per_activity

WORKED_GT = [0, 0, 1, 1, 1, 2, 2, 2, 0, 0]
WORKED_PRED = [0, 0, 0, 1, 1, 1, 1, 1, 0, 0]


def test_worked_example_mapping_and_mof():
    # c0 -> background, c1 -> class 2: mapped [0,0,0,2,2,2,2,2,0,0]; 7 of 10 points agree.
    np.testing.assert_array_equal(hungarian_relabel(WORKED_PRED, WORKED_GT), [0, 0, 0, 2, 2, 2, 2, 2, 0, 0])
    assert mof(WORKED_PRED, WORKED_GT) == pytest.approx(0.7)


def test_perfect_and_permuted_predictions():
    gt = np.array([0, 1, 1, 2, 2, 2, 3])
    assert mof(gt, gt) == 1.0
    assert mof(np.array([3, 0, 2, 1])[gt], gt) == 1.0


def test_unmatched_clusters_get_distinct_ids_outside_the_classes():
    # Two classes (0, 1), four clusters: two clusters stay unmatched and map to 2 + c.
    mapped = hungarian_relabel([0, 0, 1, 1, 2, 3], [0, 0, 1, 1, 1, 1])
    np.testing.assert_array_equal(mapped, [0, 0, 1, 1, 4, 5])
    assert mof([0, 0, 1, 1, 2, 3], [0, 0, 1, 1, 1, 1]) == pytest.approx(4 / 6)


def test_cluster_paired_with_an_absent_class_counts_as_unmatched():
    # gt has only class 1 (class 0 absent); cluster 0 must not silently become background.
    np.testing.assert_array_equal(hungarian_relabel([0, 1, 1], [1, 1, 1]), [2, 1, 1])


def test_all_background_prediction():
    # One cluster: it is matched with the largest class (background, 4 of 6 points).
    assert mof([0] * 6, [0, 0, 0, 0, 1, 2]) == pytest.approx(4 / 6)


def test_per_activity_assignment_differs_from_per_video():
    # Cluster ids swap meaning between the two videos: each video alone is perfect, but one
    # shared assignment gets only half of the pooled points right.
    preds = [[0, 0, 1, 1], [1, 1, 0, 0]]
    gts = [[1, 1, 2, 2], [1, 1, 2, 2]]
    assert [mof(p, g) for p, g in zip(preds, gts)] == [1.0, 1.0]
    assert mof_per_activity(preds, gts) == pytest.approx(0.5)


def test_per_activity_with_consistent_ids_pools_points():
    # Video A: 3/4 right, video B (6 points): 6/6 right with the shared mapping c0->1, c1->2.
    preds = [[0, 0, 0, 1], [0, 0, 0, 1, 1, 1]]
    gts = [[1, 1, 2, 2], [1, 1, 1, 2, 2, 2]]
    assert mof_per_activity(preds, gts) == pytest.approx(9 / 10)


@pytest.mark.parametrize(
    ("preds", "gts", "message"),
    [
        ([], [], "no videos"),
        ([[0, 1]], [[0, 1], [0, 1]], "1 predictions but 2 ground truths"),
        ([[0, 1], [0, 1]], [[0, 1], [0, 1, 1]], "video 1: pred and gt must have the same length"),
        ([[0, 1], [-1, 1]], [[0, 1], [0, 1]], "video 1: pred holds negative"),
        (np.zeros((2, 3), dtype=int), np.zeros((2, 3), dtype=int), "as a list"),
    ],
)
def test_per_activity_invalid_input_raises(preds, gts, message):
    with pytest.raises(ValueError, match=message):
        mof_per_activity(preds, gts)


@pytest.mark.parametrize(
    ("pred", "gt", "message"),
    [([0, 1], [0], "same length"), ([0, -1], [0, 0], "negative"), ([], [], "empty"), ([0.5, 1], [0, 1], "integer")],
)
def test_mof_invalid_input_raises(pred, gt, message):
    with pytest.raises(ValueError, match=message):
        mof(pred, gt)
