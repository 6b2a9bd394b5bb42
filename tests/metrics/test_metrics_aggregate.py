"""Per-video rows and their per-activity / overall aggregation."""

import pandas as pd
import pytest

from steploc.metrics import aggregate_metrics, score_video


def test_score_video_on_the_worked_example():
    row = score_video([0, 0, 0, 1, 1, 1, 1, 1, 0, 0], [0, 0, 1, 1, 1, 2, 2, 2, 0, 0])
    assert row == pytest.approx(
        {
            "precision": 0.7, "recall": 1.0, "iou": 0.7, "mof": 0.7, "n_cells": 10, "edit": 0.5,
            "f1": 2 * 0.7 / 1.7,  # the worked example's 0.8235
            "tp@0.10": 1, "fp@0.10": 0, "fn@0.10": 1, "f1@0.10": 2 / 3,
            "tp@0.25": 1, "fp@0.25": 0, "fn@0.25": 1, "f1@0.25": 2 / 3,
            "tp@0.50": 1, "fp@0.50": 0, "fn@0.50": 1, "f1@0.50": 2 / 3,
        }
    )


def per_video_table():
    return pd.DataFrame(
        {
            "activity_id": [1, 1, 2],
            "precision": [1.0, 0.2, 0.4],
            "recall": [0.2, 1.0, 0.8],
            "iou": [0.5, 0.3, 0.2],
            "mof": [0.5, 1.0, 0.25],
            "n_cells": [10, 30, 40],
            "edit": [0.2, 0.4, 1.0],
            "tp@0.50": [1, 2, 0],
            "fp@0.50": [1, 0, 3],
            "fn@0.50": [0, 2, 1],
        }
    )


def test_activity_rows():
    table = aggregate_metrics(per_video_table()).set_index("level")
    first, second = table.loc["activity"].iloc[0], table.loc["activity"].iloc[1]
    assert first["activity_id"] == 1 and first["n_videos"] == 2
    # P̄ = R̄ = 0.6 -> F1 0.6 (the per-video F1s are 1/3 each).
    assert first["precision"] == pytest.approx(0.6)
    assert first["recall"] == pytest.approx(0.6)
    assert first["f1"] == pytest.approx(0.6)
    assert first["iou"] == pytest.approx(0.4)
    assert first["mof"] == pytest.approx((5 + 30) / 40)  # Σ correct / Σ points
    assert first["n_cells"] == 40
    assert first["edit"] == pytest.approx(0.3)
    assert (first["tp@0.50"], first["fp@0.50"], first["fn@0.50"]) == (3, 1, 2)
    assert first["f1@0.50"] == pytest.approx(2 * 0.75 * 0.6 / 1.35)
    assert second["activity_id"] == 2
    assert second["f1"] == pytest.approx(2 * 0.4 * 0.8 / 1.2)
    assert second["f1@0.50"] == 0.0


def test_overall_row():
    table = aggregate_metrics(per_video_table())
    overall = table[table["level"] == "overall"].iloc[0]
    assert pd.isna(overall["activity_id"])
    assert overall["n_activities"] == 2 and overall["n_videos"] == 3
    # P, R, IoU: means over the activities' values; F1 from those means.
    assert overall["precision"] == pytest.approx(0.5)
    assert overall["recall"] == pytest.approx(0.7)
    assert overall["f1"] == pytest.approx(2 * 0.5 * 0.7 / 1.2)
    assert overall["iou"] == pytest.approx(0.3)
    # MoF, Edit, F1@τ pooled over all videos.
    assert overall["mof"] == pytest.approx(45 / 80)
    assert overall["edit"] == pytest.approx(1.6 / 3)
    assert overall["f1@0.50"] == pytest.approx(2 * (3 / 7) * 0.5 / (3 / 7 + 0.5))


def test_only_the_required_columns():
    table = aggregate_metrics(pd.DataFrame({"recipe": ["a", "a"], "precision": [0.5, 1.0], "recall": [1.0, 0.5]}),
                              activity_column="recipe")
    assert list(table["level"]) == ["activity", "overall"]
    assert table["f1"].tolist() == pytest.approx([0.75, 0.75])


def test_round_trip_from_score_video():
    rows = [
        {"activity_id": 7, **score_video([0, 0, 1, 1], [0, 0, 1, 1])},
        {"activity_id": 7, **score_video([0, 0, 0, 0], [0, 0, 1, 1])},
    ]
    overall = aggregate_metrics(pd.DataFrame(rows)).iloc[-1]
    # Video 2: one cluster, paired with a 2-point class -> R 1, P 1/2, MoF 1/2.
    assert overall["precision"] == pytest.approx(0.75)
    assert overall["recall"] == pytest.approx(1.0)
    assert overall["mof"] == pytest.approx(0.75)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda t: t.iloc[0:0], "non-empty"),
        (lambda t: t.drop(columns="recall"), "recall"),
        (lambda t: t.drop(columns="n_cells"), "n_cells"),
        (lambda t: t.drop(columns="fn@0.50"), "incomplete"),
        (lambda t: t.assign(precision=[1.5, 0.2, 0.4]), "precision"),
        (lambda t: t.assign(activity_id=[1, None, 2]), "without activity_id"),
    ],
)
def test_invalid_per_video_table_raises(change, message):
    with pytest.raises(ValueError, match=message):
        aggregate_metrics(change(per_video_table()))
