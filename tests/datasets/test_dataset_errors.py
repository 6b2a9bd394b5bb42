"""The table format from a hand-written CSV pair, and the errors of every reader (files named,
video named, what is wrong). All data here is SYNTHETIC (hand-written)."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from steploc.config import validate_config
from steploc.datasets import load_dataset
from steploc.errors import InputError
from steploc.ground_truth import build_ground_truth
from steploc.video_table import build_video_table

REPO = Path(__file__).resolve().parents[2]
SAMPLE = REPO / "data" / "breakfast_sample"


def config(annotations: dict, features_dir: Path, pattern: str = "{video_id}.npy",
           k_strategy: str = "video_labels", **features) -> dict:
    return validate_config({
        "annotations": annotations,
        "features": {"dir": str(features_dir), "pattern": pattern, **features},
        "params": {"k_strategy": k_strategy},
        "models": {"raw": {"type": "raw"}},
        "clustering": {"default": {}},
    })


@pytest.fixture
def table_dataset(tmp_path) -> Path:
    """Two synthetic videos at 2 rows per second: a video sheet and a segments table."""
    root = tmp_path / "table_synthetic"
    (root / "features").mkdir(parents=True)
    (root / "videos.csv").write_text("video_id,activity,n_clusters,duration_s\n"
                                     "vidA,tea,3,10\nvidB,tea,4,\nvidC,salad,2,6\n")
    (root / "segments.csv").write_text("video_id,start_s,end_s,label\n"
                                       "vidA,0,4,boil\nvidA,4,7,pour\nvidA,7,10,bg\n"
                                       "vidB,1,3,pour\nvidB,3,8,boil\n"
                                       "vidC,0,3,wash\nvidC,3,6,cut\n")
    for video, n in (("vidA", 20), ("vidB", 16), ("vidC", 12)):
        np.save(root / "features" / f"{video}.npy", np.ones((n, 4), np.float32))
    return root


def table_annotations(root: Path, **extra) -> dict:
    return {"format": "table", "root": str(root), "video_table": "videos.csv",
            "segments_table": "segments.csv", "background": ["bg"], **extra}


def test_table_format_reads_videos_k_and_ground_truth(table_dataset):
    cfg = config(table_annotations(table_dataset), table_dataset / "features",
                 k_strategy="video_table", period_s=0.5)
    table = build_video_table(cfg).set_index("video_id")
    assert table.loc["vidA", "n_clusters"] == 3 and table.loc["vidB", "n_clusters"] == 4
    assert table.loc["vidA", "activity_name"] == "tea"
    assert table.loc["vidA", "activity_id"] != table.loc["vidC", "activity_id"]
    assert table.loc["vidA", "duration_s"] == 10 and np.isnan(table.loc["vidB", "duration_s"])
    dataset = load_dataset(cfg["annotations"])
    truth = build_ground_truth(table.reset_index(), dataset.truth.check(table.reset_index()))
    rows = {r["video_id"]: r for r in truth.to_pylist()}
    # vidA: boil [0,4) s = rows 0-7, pour [4,7) = rows 8-13, bg [7,10) = background
    assert rows["vidA"]["labels"] == [1] * 8 + [2] * 6 + [0] * 6
    assert rows["vidA"]["class_names"] == ["boil", "pour"]
    # vidB starts with background, then pour, then boil: classes by first appearance
    assert rows["vidB"]["labels"] == [0, 0] + [1] * 4 + [2] * 10
    # the shared labels agree across videos: boil is the same label in both
    assert rows["vidA"]["class_labels"][0] == rows["vidB"]["class_labels"][1]


def test_table_format_video_labels_counts_background(table_dataset):
    cfg = config(table_annotations(table_dataset), table_dataset / "features", period_s=0.5)
    table = build_video_table(cfg).set_index("video_id")
    assert table.loc["vidA", "n_clusters"] == 3  # boil, pour, background
    assert table.loc["vidC", "n_clusters"] == 2  # wash, cut: no background


def test_video_in_the_table_without_a_feature_file(table_dataset):
    (table_dataset / "features" / "vidB.npy").unlink()
    cfg = config(table_annotations(table_dataset), table_dataset / "features", period_s=0.5)
    with pytest.raises(InputError) as err:
        build_video_table(cfg)
    assert "vidB" in str(err.value) and "features" in str(err.value)


def test_segments_of_a_video_the_table_does_not_list(table_dataset):
    with open(table_dataset / "segments.csv", "a") as fh:
        fh.write("vidZ,0,1,boil\n")
    with pytest.raises(InputError, match="vidZ") as err:
        build_video_table(config(table_annotations(table_dataset),
                                 table_dataset / "features", period_s=0.5))
    assert "segments.csv" in str(err.value)


def test_segment_time_that_is_not_a_number_names_the_line(table_dataset):
    text = (table_dataset / "segments.csv").read_text().replace("vidB,1,3", "vidB,1,3.3.3")
    (table_dataset / "segments.csv").write_text(text)
    with pytest.raises(InputError) as err:
        build_video_table(config(table_annotations(table_dataset),
                                 table_dataset / "features", period_s=0.5))
    assert "line 5" in str(err.value) and "3.3.3" in str(err.value)


def test_k_strategy_of_another_format_is_refused(table_dataset):
    cfg = config(table_annotations(table_dataset), table_dataset / "features",
                 k_strategy="task_graph_steps", period_s=0.5)
    with pytest.raises(InputError, match="does not apply to annotations.format table"):
        build_video_table(cfg)


def test_ground_truth_k_without_ground_truth_is_refused(table_dataset):
    annotations = table_annotations(table_dataset, segments_table=None)
    with pytest.raises(InputError, match="needs ground truth"):
        build_video_table(config(annotations, table_dataset / "features", period_s=0.5))


@pytest.fixture
def sample_copy(tmp_path) -> Path:
    root = tmp_path / "breakfast"
    shutil.copytree(SAMPLE, root)
    return root


def breakfast(root: Path, **annotations) -> dict:
    return config({"format": "action_segmentation", "root": str(root),
                   "mapping": "mapping/mapping.txt", **annotations}, root / "features",
                  "{video_id}.txt", fps=15)


def test_unknown_background_name_in_mapping(sample_copy):
    with pytest.raises(InputError) as err:
        build_video_table(breakfast(sample_copy, background=["sil"]))
    assert "['sil']" in str(err.value) and "mapping.txt" in str(err.value)


def test_default_background_is_the_known_names_present(sample_copy):
    dataset = load_dataset(breakfast(sample_copy)["annotations"])
    assert dataset.truth.background == {"SIL"}


@pytest.mark.parametrize("change, word", [(-3, "shorter"), (2, "longer")])
def test_label_file_shorter_or_longer_than_the_features(sample_copy, change, word):
    video = "P06_cam01_P06_coffee"
    path = sample_copy / "groundTruth" / video
    lines = path.read_text().splitlines()
    lines = lines[:change] if change < 0 else lines + lines[-1:] * change
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(InputError) as err:
        build_video_table(breakfast(sample_copy))
    msg = str(err.value)
    assert video in msg and word in msg and f"{472 + change} lines" in msg and "472 rows" in msg


def test_regex_without_an_activity_group(sample_copy):
    with pytest.raises(InputError, match="no group named activity"):
        build_video_table(breakfast(sample_copy, activity_regex="_([a-z]+)$"))


def test_regex_that_does_not_match_a_video_names_it(sample_copy):
    with pytest.raises(InputError, match="P08_webcam01") as err:
        build_video_table(breakfast(sample_copy, activity_regex="_cam01_P0._(?P<activity>.+)$"))
    assert "does not match" in str(err.value)


def test_label_outside_the_mapping_names_file_and_line(sample_copy):
    path = sample_copy / "groundTruth" / "P03_cam01_P03_coffee"
    lines = path.read_text().splitlines()
    lines[9] = "pour_cofee"
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(InputError) as err:
        build_video_table(breakfast(sample_copy))
    assert "line 10" in str(err.value) and "pour_cofee" in str(err.value)


def test_split_selects_the_videos(sample_copy):
    (sample_copy / "test.split1.bundle").write_text("P05_cam01_P05_coffee.txt\n"
                                                    "P09_cam01_P09_coffee.txt\n")
    table = build_video_table(breakfast(sample_copy, split="test.split1.bundle"))
    assert list(table["video_id"]) == ["P05_cam01_P05_coffee", "P09_cam01_P09_coffee"]


def test_fps_and_period_together_are_refused(sample_copy):
    cfg = breakfast(sample_copy)
    cfg["features"]["period_s"] = 0.1
    with pytest.raises(InputError, match="both set"):
        build_video_table(cfg)
