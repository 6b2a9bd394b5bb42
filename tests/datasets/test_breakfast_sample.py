"""The action-segmentation reader on the REAL Breakfast sample (data/breakfast_sample: five
"coffee" videos, 64-d Fisher-vector features at 15 fps, per-frame labels, SIL = background)."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy.optimize import linear_sum_assignment

from steploc.config import validate_config
from steploc.datasets import load_dataset
from steploc.errors import InputError
from steploc.evaluate import evaluate_run
from steploc.features import load_features
from steploc.ground_truth import build_ground_truth
from steploc.metrics import aggregate_metrics
from steploc.segment import make_segmenter
from steploc.video_table import build_video_table

REPO = Path(__file__).resolve().parents[2]
SAMPLE = REPO / "data" / "breakfast_sample"
VIDEOS = ["P03_cam01_P03_coffee", "P05_cam01_P05_coffee", "P06_cam01_P06_coffee",
          "P08_webcam01_P08_coffee", "P09_cam01_P09_coffee"]


def sample_config(features_dir: Path = SAMPLE / "features", pattern: str = "{video_id}.txt",
                  layout: str = "TxD", root: Path = SAMPLE, **annotations) -> dict:
    return validate_config({
        "annotations": {"format": "action_segmentation", "root": str(root),
                        "mapping": "mapping/mapping.txt", "background": ["SIL"],
                        "activity_regex": "_(?P<activity>[a-z]+)$", **annotations},
        "features": {"dir": str(features_dir), "pattern": pattern, "layout": layout, "fps": 15},
        "params": {"k_strategy": "video_labels"},
        "models": {"raw": {"type": "raw", "depth": 0}},
        "clustering": {"default": {"method": "kmeans"}},
    })


@pytest.fixture(scope="module")
def table() -> pd.DataFrame:
    return build_video_table(sample_config())


def test_k_per_video_is_the_distinct_labels_background_included(table):
    assert list(table["video_id"]) == VIDEOS
    assert list(table["n_clusters"]) == [4, 5, 5, 2, 3]
    assert set(table["activity_name"]) == {"coffee"}
    assert np.allclose(table["feature_period_s"], 1 / 15)
    assert list(table["n_features"]) == [917, 1119, 472, 271, 571]
    assert set(table["feature_dim"]) == {64}


def test_activity_labels_counts_over_the_activity(tmp_path):
    cfg = sample_config()
    cfg["params"]["k_strategy"] = "activity_labels"
    names = set()
    for video in VIDEOS:
        names |= set((SAMPLE / "groundTruth" / video).read_text().split())
    assert set(build_video_table(cfg)["n_clusters"]) == {len(names)}


def independent_mof(video: str, k: int) -> float:
    """Per-video MoF of the uniform split, computed from the label names directly: Hungarian
    on the (name x segment) contingency table, maximising matched frames."""
    names = (SAMPLE / "groundTruth" / video).read_text().split()
    n = len(names)
    pred = np.arange(n) * k // n
    counts = pd.crosstab(pd.Series(names, name="gt"), pd.Series(pred, name="pred"))
    rows, cols = linear_sum_assignment(-counts.to_numpy())
    return counts.to_numpy()[rows, cols].sum() / n


def test_uniform_baseline_mean_mof_matches_an_independent_computation(table):
    dataset = load_dataset(sample_config()["annotations"])
    truth = build_ground_truth(table, dataset.truth.check(table)).to_pandas()
    truth["labels"] = [np.asarray(v, np.int64) for v in truth["labels"]]
    per_video, _ = evaluate_run(table, truth.set_index("video_id", drop=False), "uniform",
                                "baseline")
    expected = [independent_mof(v, k) for v, k in zip(table["video_id"], table["n_clusters"],
                                                      strict=True)]
    assert np.allclose(per_video["mof"], expected)
    overall = aggregate_metrics(per_video).iloc[-1]
    assert overall["mof_video_mean"] == pytest.approx(0.758, abs=0.001)
    # pooled over frames differs: long SIL-heavy videos weigh more
    pooled = sum(e * n for e, n in zip(expected, table["n_features"], strict=True))
    assert overall["mof"] == pytest.approx(pooled / table["n_features"].sum())
    assert abs(overall["mof"] - overall["mof_video_mean"]) > 0.005


def test_background_names_map_to_class_zero(table):
    dataset = load_dataset(sample_config()["annotations"])
    truth = build_ground_truth(table, dataset.truth.check(table)).to_pandas()
    row = truth.set_index("video_id").loc["P08_webcam01_P08_coffee"]
    names = (SAMPLE / "groundTruth" / "P08_webcam01_P08_coffee").read_text().split()
    labels = np.asarray(row["labels"])
    assert np.array_equal(labels == 0, np.array(names) == "SIL")
    mapping = dict(line.split()[::-1] for line in
                   (SAMPLE / "mapping" / "mapping.txt").read_text().splitlines() if line.strip())
    assert list(row["class_names"]) == [n for n in dict.fromkeys(names) if n != "SIL"]
    assert list(row["class_labels"]) == [int(mapping[n]) + 1 for n in row["class_names"]]


@pytest.fixture(scope="module")
def transposed(tmp_path_factory) -> Path:
    """A DxT .npy copy of the sample's features (MS-TCN's orientation)."""
    folder = tmp_path_factory.mktemp("breakfast_dxt")
    for video in VIDEOS:
        arr = np.loadtxt(SAMPLE / "features" / f"{video}.txt", dtype=np.float32)
        np.save(folder / f"{video}.npy", np.ascontiguousarray(arr.T))
    return folder


@pytest.mark.parametrize("layout", ["DxT", "auto"])
def test_a_dxt_copy_gives_identical_outputs(table, transposed, layout):
    other = build_video_table(sample_config(transposed, "{video_id}.npy", layout))
    same = ["video_id", "n_clusters", "n_features", "feature_dim", "feature_period_s"]
    pd.testing.assert_frame_equal(other[same], table[same])
    assert set(other["feature_layout"]) == {"DxT"}
    for a, b in zip(table.itertuples(), other.itertuples(), strict=True):
        x = load_features(a.feature_path, layout=a.feature_layout)
        y = load_features(b.feature_path, layout=b.feature_layout)
        assert np.array_equal(x, y)
        labels_x = make_segmenter("twfinch", int(a.n_clusters)).fit_predict(x)
        labels_y = make_segmenter("twfinch", int(b.n_clusters)).fit_predict(y)
        assert np.array_equal(labels_x, labels_y)


def test_auto_layout_refuses_a_square_array_naming_both_shapes(tmp_path):
    root = tmp_path / "square"
    shutil.copytree(SAMPLE, root)
    video = "P08_webcam01_P08_coffee"
    (root / "features" / f"{video}.txt").unlink()
    np.save(root / "features" / f"{video}.npy", np.ones((271, 271), np.float32))
    with pytest.raises(InputError) as err:
        build_video_table(sample_config(root / "features", "{video_id}.*", "auto", root=root))
    msg = str(err.value)
    assert video in msg and "271 frames, 271 dims" in msg and "both orientations fit" in msg


def test_auto_layout_refuses_when_neither_axis_fits(tmp_path):
    root = tmp_path / "wrong"
    shutil.copytree(SAMPLE, root)
    video = "P09_cam01_P09_coffee"
    (root / "features" / f"{video}.txt").write_text("0.5 0.5\n" * 10)
    with pytest.raises(InputError) as err:
        build_video_table(sample_config(root / "features", layout="auto", root=root))
    msg = str(err.value)
    assert video in msg and "(10, 2)" in msg and "neither orientation fits" in msg
