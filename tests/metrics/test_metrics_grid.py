"""Ground-truth and prediction label sequences on the feature grid (evaluation.md §1)."""

import numpy as np
import pandas as pd
import pytest

from steploc.metrics import cell_centres, ground_truth_labels, predicted_labels, step_class_numbering


def steps_table(rows):
    """rows: (step_id, start_s, end_s) tuples in file order."""
    return pd.DataFrame(rows, columns=["step_id", "start_s", "end_s"])


def test_cell_centres_are_half_a_period_in():
    np.testing.assert_allclose(cell_centres(4, 0.5), [0.25, 0.75, 1.25, 1.75])


def test_gaps_are_background_and_classes_start_at_one():
    # 1 s grid, centres 0.5 … 9.5; step 7 covers 2–4 s, step 3 covers 6–8 s.
    labels = ground_truth_labels(steps_table([(7, 2.0, 4.0), (3, 6.0, 8.0)]), 10, 1.0)
    np.testing.assert_array_equal(labels, [0, 0, 1, 1, 0, 0, 2, 2, 0, 0])
    assert labels.dtype.kind == "i"


def test_cell_centre_rule_at_boundaries():
    # period 0.5 s: centres 0.25, 0.75, 1.25, 1.75, 2.25, 2.75.
    # [0.75, 1.75): starts exactly on a centre (included), ends exactly on a centre (excluded).
    np.testing.assert_array_equal(ground_truth_labels(steps_table([(5, 0.75, 1.75)]), 6, 0.5), [0, 1, 1, 0, 0, 0])
    # [0.76, 1.74): just after / before centres -> only the 1.25 centre is inside.
    np.testing.assert_array_equal(ground_truth_labels(steps_table([(5, 0.76, 1.74)]), 6, 0.5), [0, 0, 1, 0, 0, 0])
    # A step shorter than a cell that covers no centre leaves no trace.
    np.testing.assert_array_equal(ground_truth_labels(steps_table([(5, 0.3, 0.7)]), 3, 0.5), [0, 0, 0])


def test_overlap_later_start_wins_whatever_the_file_order():
    # Step 10 spans 0–8 s, step 20 spans 3–5 s inside it. After sorting by start, 20 is painted
    # last and overwrites cells 3 and 4; the file order must not matter.
    expected = [1, 1, 1, 2, 2, 1, 1, 1, 0, 0]
    in_order = ground_truth_labels(steps_table([(10, 0.0, 8.0), (20, 3.0, 5.0)]), 10, 1.0)
    reversed_rows = ground_truth_labels(steps_table([(20, 3.0, 5.0), (10, 0.0, 8.0)]), 10, 1.0)
    np.testing.assert_array_equal(in_order, expected)
    np.testing.assert_array_equal(reversed_rows, expected)


def test_overlap_of_consecutive_steps_goes_to_the_later_one():
    # 10: 0–5 s, 20: 4–8 s; cell 4 (centre 4.5) is in both -> the later-starting step 20.
    labels = ground_truth_labels(steps_table([(20, 4.0, 8.0), (10, 0.0, 5.0)]), 9, 1.0)
    np.testing.assert_array_equal(labels, [1, 1, 1, 1, 2, 2, 2, 2, 0])


def test_unsorted_rows_are_numbered_in_start_time_order():
    steps = steps_table([(30, 6.0, 8.0), (10, 0.0, 2.0), (20, 3.0, 5.0)])
    assert step_class_numbering(steps) == {10: 1, 20: 2, 30: 3}
    np.testing.assert_array_equal(ground_truth_labels(steps, 9, 1.0), [1, 1, 0, 2, 2, 0, 3, 3, 0])


def test_equal_start_times_keep_file_order():
    # Stable sort: with equal starts the row later in the file is painted later and wins.
    steps = steps_table([(10, 0.0, 4.0), (20, 0.0, 2.0)])
    assert step_class_numbering(steps) == {10: 1, 20: 2}
    np.testing.assert_array_equal(ground_truth_labels(steps, 5, 1.0), [2, 2, 1, 1, 0])


def test_missing_rows_are_absent_and_get_no_class():
    steps = steps_table([(4, -1.0, -1.0), (10, 1.0, 3.0), (11, np.nan, np.nan), (12, 4.0, 5.0)])
    assert step_class_numbering(steps) == {10: 1, 12: 2}
    np.testing.assert_array_equal(ground_truth_labels(steps, 6, 1.0), [0, 1, 1, 0, 2, 0])


def test_step_both_missing_and_performed_keeps_its_performed_occurrence():
    # Like recording 1_36: step 10 appears once with times and once as a -1 row.
    steps = steps_table([(10, -1.0, -1.0), (10, 2.0, 4.0)])
    np.testing.assert_array_equal(ground_truth_labels(steps, 5, 1.0), [0, 0, 1, 1, 0])


def test_repeated_step_ids_share_a_class():
    steps = steps_table([(8, 0.0, 2.0), (9, 2.0, 4.0), (8, 4.0, 6.0)])
    assert step_class_numbering(steps) == {8: 1, 9: 2}
    np.testing.assert_array_equal(ground_truth_labels(steps, 7, 1.0), [1, 1, 2, 2, 1, 1, 0])


def test_shared_class_mapping_for_several_recordings():
    steps = steps_table([(9, 0.0, 2.0), (8, 2.0, 4.0)])
    labels = ground_truth_labels(steps, 4, 1.0, step_classes={8: 8, 9: 9})
    np.testing.assert_array_equal(labels, [9, 9, 8, 8])


def test_steps_past_the_grid_are_cut_off():
    np.testing.assert_array_equal(ground_truth_labels(steps_table([(1, 2.0, 99.0)]), 4, 1.0), [0, 0, 1, 1])


def test_recording_without_performed_steps_is_all_background():
    np.testing.assert_array_equal(ground_truth_labels(steps_table([(1, -1.0, -1.0)]), 3, 1.0), [0, 0, 0])


@pytest.mark.parametrize(
    ("steps", "kwargs", "message"),
    [
        (pd.DataFrame({"step_id": [1], "start_s": [0.0]}), {}, "lacks column"),
        (steps_table([(1, -1.0, 3.0)]), {}, "times must be >= 0"),
        (steps_table([(1, np.nan, 3.0)]), {}, "finite"),
        (steps_table([(1, -2.0, -2.0)]), {}, "times must be >= 0"),
        (steps_table([(1, 5.0, 3.0)]), {}, "end time must be >= its start"),
        (steps_table([(1.5, 0.0, 3.0)]), {}, "integers"),
        (steps_table([(1, 0.0, 3.0)]), {"step_classes": {2: 1}}, "no class for step_id"),
        (steps_table([(1, 0.0, 3.0)]), {"step_classes": {1: 0}}, ">= 1"),
    ],
)
def test_invalid_steps_raise(steps, kwargs, message):
    with pytest.raises(ValueError, match=message):
        ground_truth_labels(steps, 5, 1.0, **kwargs)


@pytest.mark.parametrize(("n_cells", "period_s"), [(0, 1.0), (2.5, 1.0), (True, 1.0), (3, 0.0), (3, -1.0), (3, np.inf)])
def test_invalid_grid_raises(n_cells, period_s):
    with pytest.raises(ValueError, match="n_cells|period_s"):
        ground_truth_labels(steps_table([(1, 0.0, 1.0)]), n_cells, period_s)


def test_non_dataframe_steps_raise():
    with pytest.raises(ValueError, match="DataFrame"):
        ground_truth_labels([(1, 0.0, 1.0)], 3, 1.0)


# --- predictions --------------------------------------------------------------------------


def test_predicted_segments_expand_by_cell_centre_with_unassigned_cells():
    # 1 s grid of 8 cells; segments [1, 3) -> 0 and [3, 6) -> 2, declared 3 clusters.
    # Cells 0, 6, 7 are covered by no segment and get the unassigned id 3 (= n_clusters).
    labels = predicted_labels([1.0, 3.0], [3.0, 6.0], [0, 2], 8, 1.0, n_clusters=3)
    np.testing.assert_array_equal(labels, [3, 0, 0, 2, 2, 2, 3, 3])


def test_unassigned_id_defaults_to_one_past_the_largest_cluster():
    labels = predicted_labels([0.0], [2.0], [4], 3, 1.0)
    np.testing.assert_array_equal(labels, [4, 4, 5])


def test_unassigned_cells_are_not_merged_into_cluster_zero():
    labels = predicted_labels([2.0], [4.0], [0], 4, 1.0, n_clusters=1)
    np.testing.assert_array_equal(labels, [1, 1, 0, 0])


def test_no_predicted_segments_means_all_unassigned():
    np.testing.assert_array_equal(predicted_labels([], [], np.array([], dtype=int), 3, 1.0, n_clusters=7), [7, 7, 7])


def test_predicted_segments_use_the_same_cell_centre_rule():
    # period 0.5: centres 0.25, 0.75, 1.25, 1.75; segment [0.75, 1.75) covers cells 1 and 2.
    np.testing.assert_array_equal(predicted_labels([0.75], [1.75], [0], 4, 0.5, n_clusters=1), [1, 0, 0, 1])


@pytest.mark.parametrize(
    ("starts", "ends", "clusters", "n_clusters", "message"),
    [
        ([0.0, 1.0], [1.0], [0, 1], None, "equally long"),
        ([0.0], [1.0], [-1], None, ">= 0"),
        ([0.0], [1.0], [0.0], None, "integers"),
        ([2.0], [1.0], [0], None, "end time must be >= its start"),
        ([-1.0], [1.0], [0], None, ">= 0 seconds"),
        ([0.0], [np.nan], [0], None, "finite"),
        ([0.0], [1.0], [3], 3, "n_clusters"),
    ],
)
def test_invalid_predicted_segments_raise(starts, ends, clusters, n_clusters, message):
    with pytest.raises(ValueError, match=message):
        predicted_labels(starts, ends, clusters, 4, 1.0, n_clusters=n_clusters)


def test_nullable_columns_with_empty_times_for_missing_steps():
    # The gt_step_segments layout: missing steps keep empty (NA) times in nullable columns.
    steps = pd.DataFrame(
        {
            "step_id": pd.array([3, 1, 2], dtype="Int64"),
            "start_s": pd.array([0.0, None, 2.0], dtype="Float64"),
            "end_s": pd.array([1.0, None, 3.0], dtype="Float64"),
        }
    )
    np.testing.assert_array_equal(ground_truth_labels(steps, 4, 1.0), [1, 0, 2, 0])
