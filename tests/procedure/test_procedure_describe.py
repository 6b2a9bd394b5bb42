"""cluster_table on a hand-made SYNTHETIC case whose values are worked out by hand below, plus
the ground-truth converters."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from steploc.procedure import (
    CLUSTER_TABLE_SCHEMA,
    cluster_table,
    frame_label_intervals,
    ground_truth_intervals,
    procedure_steps,
)

# Segments (seconds) of four synthetic videos; video ends = their last segment's end
# (A 20 s, B 20 s, C 30 s, D 10 s). No relative_position column: cluster_table derives it.
HAND_STEPS = pd.DataFrame(
    [("syn_A", 0, 0.0, 10.0, 2), ("syn_A", 1, 10.0, 20.0, 0),
     ("syn_B", 0, 0.0, 5.0, 2), ("syn_B", 1, 5.0, 18.0, 0), ("syn_B", 2, 18.0, 20.0, 1),
     ("syn_C", 0, 0.0, 30.0, 0),
     ("syn_D", 0, 0.0, 8.0, 3), ("syn_D", 1, 8.0, 10.0, 1)],
    columns=["video_id", "segment_idx", "start_s", "end_s", "step_id"]).assign(activity_id=1)

# Ground truth of A, B, D (C has none). A's two "Stir" rows overlap: the union [6, 18) counts.
# A: background after 18 s; D: background before 8.5 s.
HAND_TRUTH = pd.DataFrame(
    [("syn_A", 0.0, 6.0, "Add 1 tsp salt", 101), ("syn_A", 6.0, 18.0, "Stir", 102),
     ("syn_A", 7.0, 9.0, "Stir", 102),
     ("syn_B", 0.0, 5.0, "Stir", 102), ("syn_B", 5.0, 20.0, "Fry", 103),
     ("syn_D", 8.5, 10.0, "Add 1 tsp salt", 101)],
    columns=["video_id", "start_s", "end_s", "step", "step_id"])

# Worked out by hand:
# step 2: A[0,10) B[0,5). positions 5/20, 2.5/20 -> mean 0.1875. 15 s, all in GT videos.
#   salt: A 6 s. Stir: A [6,10) 4 s + B [0,5) 5 s = 9 s  -> Stir, 9/15 = 0.6
# step 0: A[10,20) B[5,18) C[0,30). positions .75, .575, .5 -> mean 1.825/3. 53 s, 23 s in GT
#   videos (C has none). Stir: A [10,18) 8 s. Fry: B [5,18) 13 s -> Fry, 13/23
# step 1: B[18,20) D[8,10). positions .95, .9 -> .925. 4 s. Fry 2 s, salt [8.5,10) 1.5 s -> Fry, 0.5
# step 3: D[0,8). position .4. 8 s, covers nothing (background) -> purity 0, no match
# order by mean position: step 2 (0), step 3 (1), step 0 (2), step 1 (3)
EXPECTED = pd.DataFrame({
    "step_id": [0, 1, 2, 3],
    "n_segments": [3, 2, 2, 1],
    "n_videos": [3, 2, 2, 1],
    "mean_relative_position": [1.825 / 3, 0.925, 0.1875, 0.4],
    "order_rank": [2, 3, 0, 1],
    "duration_s": [53.0, 4.0, 15.0, 8.0],
    "gt_duration_s": [23.0, 4.0, 15.0, 8.0],
    "matched_s": [13.0, 2.0, 9.0, 0.0],
    "purity": [13 / 23, 0.5, 0.6, 0.0],
    "description": ["step 0 ≈ 'Fry' (purity 0.57)", "step 1 ≈ 'Fry' (purity 0.50)",
                    "step 2 ≈ 'Stir' (purity 0.60)", "step 3 ≈ background (covers no ground-truth step)"],
})


def test_synthetic_hand_case_descriptions_and_purity():
    table = cluster_table(HAND_STEPS, HAND_TRUTH)
    assert list(table.columns) == CLUSTER_TABLE_SCHEMA.names
    pa.Table.from_pandas(table, schema=CLUSTER_TABLE_SCHEMA, preserve_index=False)  # conforms
    assert table["activity_id"].tolist() == [1, 1, 1, 1]
    for column in ["step_id", "n_segments", "n_videos", "order_rank", "description"]:
        assert table[column].tolist() == EXPECTED[column].tolist(), column
    assert table["matched_step"].tolist() == ["Fry", "Fry", "Stir", None]
    assert table["matched_step_id"].tolist()[:3] == [103, 103, 102]
    assert pd.isna(table["matched_step_id"].iloc[3])
    for column in ["mean_relative_position", "duration_s", "gt_duration_s", "matched_s", "purity"]:
        np.testing.assert_allclose(table[column].to_numpy(float), EXPECTED[column].to_numpy(float),
                                   rtol=1e-12, err_msg=column)


def test_synthetic_hand_case_by_names_and_step_names():
    by_name = cluster_table(HAND_STEPS, HAND_TRUTH.drop(columns="step_id"))
    assert by_name["matched_step"].tolist() == ["Fry", "Fry", "Stir", None]
    assert by_name["matched_step_id"].isna().all()
    np.testing.assert_allclose(by_name["purity"], EXPECTED["purity"], rtol=1e-12)
    renamed = cluster_table(HAND_STEPS, HAND_TRUTH, step_names={102: "Stir the batter"})
    assert renamed["description"].iloc[2] == "step 2 ≈ 'Stir the batter' (purity 0.60)"


def test_synthetic_without_ground_truth():
    table = cluster_table(HAND_STEPS)
    assert table["order_rank"].tolist() == [2, 3, 0, 1]
    assert table["purity"].isna().all() and table["matched_step"].isna().all()
    assert table["description"].iloc[2] == "step 2: order 0, mean position 0.19"


def test_synthetic_video_without_ground_truth_only():
    only_c = HAND_STEPS[HAND_STEPS["video_id"] == "syn_C"]
    table = cluster_table(only_c, HAND_TRUTH)
    assert np.isnan(table["purity"].iloc[0])
    assert table["description"].iloc[0] == "step 0: no ground truth for its videos"


def test_synthetic_frame_labels_converter():
    frames = ["Add 1 tsp salt"] * 6 + ["Stir"] * 12 + ["SIL"] * 2
    intervals = frame_label_intervals("syn_A", frames, 1.0, background={"SIL"})
    assert intervals.values.tolist() == [["syn_A", 0.0, 6.0, "Add 1 tsp salt"], ["syn_A", 6.0, 18.0, "Stir"]]
    halves = frame_label_intervals("syn_A", frames, 0.5)
    assert halves["end_s"].tolist() == [3.0, 9.0, 10.0] and halves["step"].iloc[-1] == "SIL"


def test_synthetic_ground_truth_table_is_converted(synthetic):
    intervals = ground_truth_intervals(synthetic.ground_truth)
    v1 = intervals[intervals["video_id"] == "syn_v1"]
    # syn_v1 performs 11, 13, 12, 14 for 10, 8, 9, 9 s
    assert v1[["start_s", "end_s", "step_id"]].values.tolist() == [
        [0.0, 10.0, 11], [10.0, 18.0, 13], [18.0, 27.0, 12], [27.0, 36.0, 14]]
    assert v1["step"].tolist() == ["Crack the eggs", "Add 1 tsp salt", "Whisk", "Fry"]
    assert "syn_v3_skipped" not in set(intervals["video_id"])
    v2 = intervals[intervals["video_id"] == "syn_v2"]
    assert v2["end_s"].max() == 36.0  # its last 3 s are background

    steps, _ = procedure_steps(synthetic.segments, synthetic.embeddings, synthetic.videos, {1: 4})
    from_table = cluster_table(steps, synthetic.ground_truth)
    from_intervals = cluster_table(steps, intervals)
    pd.testing.assert_frame_equal(from_table, from_intervals)
    assert sorted(from_table["matched_step_id"].tolist()) == [11, 12, 13, 14]
    fry = from_table[from_table["matched_step_id"] == 14].iloc[0]
    # Fry lasts 12 + 9 + 8 s; its segments run 3 s further, into syn_v2's background: 29 / 32
    assert fry["purity"] == pytest.approx(29 / 32)
    assert (from_table.loc[from_table["matched_step_id"] != 14, "purity"] == 1.0).all()
