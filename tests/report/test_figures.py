"""Report figures: PNGs are written, colours follow the Hungarian matching, bad input raises."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from steploc.metrics import hungarian_relabel
from steploc.report import (
    class_colour,
    label_runs,
    matched_classes,
    matched_colours,
    plot_f1_per_activity,
    plot_video_timelines,
    write_overall_table_html,
)
from steploc.report.figures import BACKGROUND_COLOUR, UNMATCHED_COLOUR

# Ground truth with background and three steps; the prediction is the same partition with the
# cluster ids permuted (class 0 -> cluster 2, 1 -> 0, 2 -> 3, 3 -> 1).
GT = np.array([0, 0, 1, 1, 1, 2, 2, 2, 3, 3, 0, 0])
CLUSTER_OF_CLASS = np.array([2, 0, 3, 1])
PERMUTED = CLUSTER_OF_CLASS[GT]


def _assert_png(path):
    assert path.stat().st_size > 1000
    with Image.open(path) as image:
        assert image.format == "PNG"
        assert image.width > 200 and image.height > 100


def _activities(n_recipes=3, series=(("hiero", "default"), ("raw", "default"), ("uniform", "default"))):
    rng = np.random.default_rng(1)
    return pd.DataFrame(
        [
            {"model": model, "setting": setting, "activity_id": aid, "activity_name": f"Recipe number {aid}",
                 "f1": float(rng.uniform(0, 0.6)), "n_videos": 4}
            for model, setting in series
            for aid in range(1, n_recipes + 1)
        ]
    )


def test_label_runs_keeps_background_and_splits_at_changes():
    runs = label_runs([0, 0, 3, 3, 0, 5])
    assert runs.labels.tolist() == [0, 3, 0, 5]
    assert runs.starts.tolist() == [0, 2, 4, 5]
    assert runs.ends.tolist() == [2, 4, 5, 6]


def test_permuted_prediction_takes_the_colour_of_the_matched_class():
    assert matched_classes(PERMUTED, GT) == {2: 0, 0: 1, 3: 2, 1: 3}
    colours = matched_colours(PERMUTED, GT)
    assert colours[2] == BACKGROUND_COLOUR
    for gt_class in (1, 2, 3):
        assert colours[int(CLUSTER_OF_CLASS[gt_class])] == class_colour(gt_class)
    assert len({class_colour(k) for k in range(1, 26)}) == 25  # distinct up to CaptainCook4D's largest K


def test_surplus_cluster_is_unmatched_and_grey():
    pred = PERMUTED.copy()
    pred[-2:] = 7  # a fifth cluster on the last two background cells; 4 classes -> one cluster left
    classes = matched_classes(pred, GT)
    assert classes[7] is None and classes[2] == 0
    assert matched_colours(pred, GT)[7] == UNMATCHED_COLOUR


def test_matching_is_the_metrics_matching():
    pred = np.array([0, 0, 0, 1, 1, 1, 1, 1, 0, 0, 4, 4])
    mapped = hungarian_relabel(pred, GT)
    n_classes = int(GT.max()) + 1
    for cluster, gt_class in matched_classes(pred, GT).items():
        expected = mapped[pred == cluster][0]
        assert gt_class == (expected if expected < n_classes else None)


def test_plot_video_timelines_writes_png(tmp_path):
    rng = np.random.default_rng(0)
    gt = np.repeat(np.arange(8), 150)  # 20 minutes at 1 s cells
    predictions = {
        "hiero/default": np.roll(gt, 20),
        "raw/default": rng.integers(0, 10, size=gt.size),
        "uniform/default": np.concatenate([np.repeat(np.arange(6), 190), np.full(60, 6)]),
    }
    out = tmp_path / "timeline.png"
    plot_video_timelines("1_10", 1.0, gt, {k: f"step {k} " * 6 for k in range(1, 8)}, predictions, out,
                         uncovered_clusters={"uniform/default": 6})
    _assert_png(out)


def test_plot_video_timelines_without_predictions_in_seconds(tmp_path):
    out = tmp_path / "gt_only.png"
    plot_video_timelines("short", 0.5, np.array([0, 1, 1, 2, 2, 0]), {}, {}, out, title="ground truth only")
    _assert_png(out)


@pytest.mark.parametrize(
    "gt, predictions, period_s",
    [
        (GT, {"m/s": PERMUTED[:-1]}, 1.0),  # length mismatch
        (GT, {"m/s": PERMUTED.astype(float)}, 1.0),  # not integer labels
        (GT - 1, {"m/s": PERMUTED}, 1.0),  # negative class
        (GT, {"m/s": PERMUTED}, 0.0),  # period
    ],
)
def test_plot_video_timelines_rejects_invalid_input(tmp_path, gt, predictions, period_s):
    with pytest.raises(ValueError):
        plot_video_timelines("v", period_s, gt, {}, predictions, tmp_path / "bad.png")
    assert not (tmp_path / "bad.png").exists()


def test_matched_classes_rejects_length_mismatch():
    with pytest.raises(ValueError, match="equally long"):
        matched_classes(PERMUTED[:-1], GT)


def test_plot_f1_per_activity_writes_png(tmp_path):
    activities = _activities()
    activities.loc[0, "f1"] = np.nan  # a missing result draws no bar
    out = tmp_path / "f1.png"
    plot_f1_per_activity(activities, out)
    _assert_png(out)


def test_plot_f1_per_activity_with_videos_scored_and_a_recipe_without_results(tmp_path):
    activities = _activities().rename(columns={"n_videos": "videos_scored"})
    activities.loc[activities["activity_id"] == 2, ["f1", "videos_scored"]] = [np.nan, 0]
    out = tmp_path / "f1_scored.png"
    plot_f1_per_activity(activities, out, n_videos_column="videos_scored", title="custom title")
    _assert_png(out)
    with pytest.raises(ValueError, match="n_videos"):
        plot_f1_per_activity(activities, tmp_path / "bad.png")


@pytest.mark.parametrize(
    "change",
    [
        lambda df: df.drop(columns="activity_name"),
        lambda df: df.assign(f1=df["f1"] * 100),  # percent instead of a fraction
        lambda df: pd.concat([df, df.iloc[:1]]),  # duplicate (model, setting, activity)
        lambda df: df.iloc[:0],
    ],
)
def test_plot_f1_per_activity_rejects_invalid_input(tmp_path, change):
    with pytest.raises(ValueError):
        plot_f1_per_activity(change(_activities()), tmp_path / "bad.png")


def test_write_overall_table_html_in_percent(tmp_path):
    overall = pd.DataFrame(
        [dict(model="hiero", setting="default", level="overall", n_videos=12, precision=0.4, recall=0.5,
              f1=0.4444, mof=0.375, **{"f1@0.50": 0.25, "tp@0.50": 3})]
    )
    out = tmp_path / "overall.html"
    write_overall_table_html(overall, out)
    html = out.read_text(encoding="utf-8")
    assert "<table" in html and "44.4" in html and "37.5" in html and "25.0" in html
    assert "tp@0.50" not in html and "level" not in html
    with pytest.raises(ValueError):
        write_overall_table_html(overall, out, columns=["model", "nope"])


def test_dollar_signs_in_annotation_text_are_not_mathtext(tmp_path):
    """Step texts such as "Add $5 of sugar" or a stray "$\\frac{" used to crash the figure
    (matplotlib parses $...$ as mathtext)."""
    gt = np.array([0, 1, 1, 2, 2, 0])
    names = {1: r"Add $\frac{$ sugar", 2: "Pay $5"}
    plot_video_timelines("v", 1.0, gt, names, {"m/s": np.array([0, 0, 1, 1, 2, 2])},
                         tmp_path / "t.png")
    activities = pd.DataFrame({"model": ["m"], "setting": ["s"], "activity_id": [1],
                               "activity_name": [r"$\frac{"], "f1": [0.5], "n_videos": [1]})
    plot_f1_per_activity(activities, tmp_path / "f.png")
    assert (tmp_path / "t.png").stat().st_size > 0 and (tmp_path / "f.png").stat().st_size > 0
