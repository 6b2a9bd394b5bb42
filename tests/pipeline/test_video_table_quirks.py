"""The video table against the CaptainCook4D quirks (data/captaincook4d/README.md).

Two kinds of input: the REAL embedded annotations (expected values read off the raw files by
hand, see the comments), and a tiny hand-made SYNTHETIC copy in the same layout written by
``conftest.write_tiny_annotations``. Feature files are SYNTHETIC block arrays.
"""

from __future__ import annotations

import numpy as np
import pytest

from conftest import CC4D_ROOT, TINY_GRAPHS, TINY_K, write_synthetic_features, write_tiny_annotations
from steploc import annotations as ann
from steploc.config import validate_config
from steploc.datasets import select_videos
from steploc.datasets.captaincook4d import annotation_path
from steploc.errors import InputError
from steploc.video_table import COLUMNS, build_video_table

CONTRACT_COLUMNS = [
    "video_id", "activity_id", "activity_name", "n_clusters", "k_strategy", "duration_s",
    "feature_path", "n_features", "feature_dim", "feature_period_s",
    "feature_dtype", "feature_layout", "feature_fingerprint", "shard", "status", "reason",
]

REAL_ACTIVITY_IDS = set(range(1, 30)) - {6, 11, 14, 19, 24}


def params_config(root, features_dir, *, strategy="task_graph_steps", k_fixed=None,
                  videos=None, missing="skip", period_s=1.0, pattern="{video_id}_synthetic.npy",
                  **annotation_files):
    """A validated config (schema defaults filled in), as the workflow builds it."""
    return validate_config({
        "annotations": {"root": str(root), **annotation_files},
        "videos": videos or {},
        "features": {"dir": str(features_dir), "pattern": pattern, "array_key": None,
                     "period_s": period_s, "period_tolerance": 0.05, "missing": missing},
        "params": {"k_strategy": strategy, "k_fixed": k_fixed},
        "batching": {"shards": 0},
        "models": {"raw": {"type": "raw"}},
        "clustering": {"default": {}},
    })


@pytest.fixture
def tiny_root(tmp_path):
    return write_tiny_annotations(tmp_path / "tiny_cc4d_synthetic")


@pytest.fixture
def empty_features(tmp_path):
    d = tmp_path / "no_features"
    d.mkdir()
    return d


@pytest.fixture(scope="module")
def real_tables(tmp_path_factory):
    """Params tables of all 384 REAL recordings per K strategy (no features: all skipped)."""
    empty = tmp_path_factory.mktemp("real_no_features")
    out = {}
    for strategy, k_fixed in [("task_graph_nodes", None), ("task_graph_steps", None),
                              ("recording_steps", None), ("fixed", 6)]:
        table = build_video_table(params_config(CC4D_ROOT, empty, strategy=strategy,
                                                 k_fixed=k_fixed))
        out[strategy] = table.set_index("video_id", drop=False)
    return out


# ------------------------------------------------------------------ REAL annotations


def test_real_activities_drop_the_footer_rows():
    acts = ann.read_activities(CC4D_ROOT / "annotation_csv" / "average_segment_length.csv")
    assert len(acts) == 24
    assert set(acts["activity_id"]) == REAL_ACTIVITY_IDS
    assert acts["activity_id"].dtype == np.int64
    assert not acts["activity_name"].str.contains("Average|=====").any()
    by_id = dict(zip(acts["activity_id"], acts["activity_name"]))
    assert by_id[8] == "Spiced Hot Chocolate"
    assert by_id[20] == "Sauted Mushrooms"


def test_real_recording_ids_stay_strings():
    recs = ann.read_recordings(CC4D_ROOT / "annotation_csv" / "recording_id_step_idx.csv")
    assert len(recs) == 384
    ids = set(recs["recording_id"])
    assert all(isinstance(r, str) for r in ids)
    # "2_3" is a prefix of "2_30"; both exist and stay distinct.
    assert {"1_7", "2_3", "2_30", "12_119"} <= ids
    row = recs.set_index("recording_id").loc["1_7"]
    assert row["activity_id"] == 1
    assert row["step_ids"] == [3, 1, 4, 12, 11, 8, 6, 5, 10, 9, 2, 7]


def test_real_durations_use_seconds_and_string_ids():
    dur = ann.read_video_durations(CC4D_ROOT / "metadata" / "video_information.csv")
    assert len(dur) == 384
    # 22_10: duration(min) says 18.98 (= 1138.8 s); duration(sec) says 1287.15.
    assert dur["22_10"] == pytest.approx(1287.15)
    # Ids that collide when read as numbers ("1_25" and "12_5" are both 125 in YAML 1.1/int).
    assert dur["1_25"] == pytest.approx(609.91)
    assert dur["12_5"] == pytest.approx(477.14)
    assert dur["2_22"] == pytest.approx(1096.83)
    assert dur["22_2"] == pytest.approx(1011.31)
    # The metadata file is sorted lexicographically (10_16 first); 1_7 is found by id.
    assert dur["1_7"] == pytest.approx(603.1)
    assert dur["10_16"] == pytest.approx(973.64)


@pytest.mark.parametrize("name, filename", [
    ("Sauted Mushrooms", "sautedmushrooms.json"),
    ("Herb Omelet with Fried Tomatoes", "herbomeletwithfriedtomatoes.json"),
    ("Spiced Hot Chocolate", "spicedhotchocolate.json"),
    ("Coffee", "coffee.json"),
])
def test_activity_name_to_task_graph_file(name, filename):
    assert ann.task_graph_filename(name) == filename
    assert (CC4D_ROOT / "task_graphs" / filename).is_file()


def test_every_real_activity_has_its_task_graph():
    acts = ann.read_activities(CC4D_ROOT / "annotation_csv" / "average_segment_length.csv")
    graphs = ann.load_task_graphs(CC4D_ROOT / "task_graphs", acts)
    assert set(graphs) == REAL_ACTIVITY_IDS
    used = {g.path.name for g in graphs.values()}
    assert used == {p.name for p in (CC4D_ROOT / "task_graphs").glob("*.json")}


def test_task_graph_with_node_gap():
    g = ann.read_task_graph(CC4D_ROOT / "task_graphs" / "spicedhotchocolate.json")
    # Node ids 0..9 without 4: 9 nodes (START, 7 steps, END), max id 9.
    assert "4" not in g.steps and max(int(k) for k in g.steps) == 9
    assert g.n_nodes == 9
    assert g.n_steps == 7


def test_task_graph_with_repeated_nodes():
    g = ann.read_task_graph(CC4D_ROOT / "task_graphs" / "pinwheels.json")
    # 21 nodes, 19 distinct texts ("Continue slicing..." three times): 19 steps, repeats counted.
    assert g.n_nodes == 21
    assert len(set(g.steps.values())) == 19
    assert g.n_steps == 19


# activity id -> (task_graph_nodes, task_graph_steps), counted in task_graphs/*.json by hand.
REAL_K = {
    8: (9, 7),      # Spiced Hot Chocolate: node 4 missing
    9: (13, 11),    # Microwave French Toast: node 2 missing
    10: (21, 19),   # Pinwheels: repeated nodes
    12: (11, 9),    # Tomato Mozzarella Salad
    20: (20, 18),   # Sauted Mushrooms (misspelled name), one repeated node
    22: (17, 15),   # Herb Omelet with Fried Tomatoes
}


@pytest.mark.parametrize("activity_id", sorted(REAL_K))
def test_real_k_from_task_graphs(real_tables, activity_id):
    nodes, steps = REAL_K[activity_id]
    for strategy, expected in [("task_graph_nodes", nodes), ("task_graph_steps", steps)]:
        t = real_tables[strategy]
        ks = t.loc[t["activity_id"] == activity_id, "n_clusters"]
        assert len(ks) > 0
        assert set(ks) == {expected}, strategy
        assert set(t.loc[t["activity_id"] == activity_id, "k_strategy"]) == {strategy}


# recording -> unique performed steps, read off annotation_csv/step_annotations.csv:
REAL_RECORDING_STEPS = {
    "1_7": 12,   # 12 rows, 12 distinct step ids, all with times
    "1_36": 10,  # 12 rows: step 10 twice (once -1), step 11 only as a -1 row
    "8_3": 7,    # Spiced Hot Chocolate, all 7 steps
    "10_6": 17,  # Pinwheels: 19 rows, step 102 three times
}


def test_real_k_recording_steps(real_tables):
    t = real_tables["recording_steps"]
    for rec, expected in REAL_RECORDING_STEPS.items():
        assert t.at[rec, "n_clusters"] == expected, rec


def test_real_step_annotations_csv_and_json_agree_on_recording_steps():
    csv_counts = ann.recording_step_counts(
        ann.read_step_annotations(CC4D_ROOT / "annotation_csv" / "step_annotations.csv"))
    json_counts = ann.recording_step_counts(
        ann.read_step_annotations(CC4D_ROOT / "annotation_json" / "step_annotations.json"))
    assert len(csv_counts) == 384
    assert csv_counts.sort_index().equals(json_counts.sort_index())
    for rec, expected in REAL_RECORDING_STEPS.items():
        assert json_counts[rec] == expected


def test_default_activities_file_is_the_annotation_csv_copy():
    # metadata/average_segment_length.csv is a second, different copy without a header (quirk 2).
    cfg = {"root": str(CC4D_ROOT)}
    assert annotation_path(cfg, "activities") == CC4D_ROOT / "annotation_csv" / "average_segment_length.csv"
    assert annotation_path(cfg, "video_metadata") == CC4D_ROOT / "metadata" / "video_information.csv"
    assert annotation_path({**cfg, "video_metadata": None}, "video_metadata") is None


def test_real_k_fixed(real_tables):
    assert set(real_tables["fixed"]["n_clusters"]) == {6}


def test_real_params_table_rows(real_tables):
    t = real_tables["task_graph_steps"]
    assert list(t.columns) == CONTRACT_COLUMNS
    assert list(COLUMNS) == CONTRACT_COLUMNS
    assert len(t) == 384 and t["video_id"].is_unique
    assert t.at["8_3", "activity_name"] == "Spiced Hot Chocolate"
    assert t.at["8_3", "activity_id"] == 8
    assert t.at["22_10", "duration_s"] == pytest.approx(1287.15)
    # No features were given, and missing: skip records every video as skipped with a reason.
    assert set(t["status"]) == {"skipped"}
    assert t["reason"].str.contains("no feature file").all()


def test_real_params_with_synthetic_features(tmp_path):
    """22_10 (wrong duration(min)) and 1_7 with SYNTHETIC 1 s features, ceil(duration) rows."""
    feats = tmp_path / "features"
    write_synthetic_features(feats, "22_10", 1288)  # ceil(1287.15)
    write_synthetic_features(feats, "1_7", 604)  # ceil(603.1)
    cfg = params_config(CC4D_ROOT, feats, videos={"recording_ids": ["22_10", "1_7"]},
                        missing="error", period_s=None)
    t = build_video_table(cfg).set_index("video_id")
    assert set(t.index) == {"1_7", "22_10"}
    assert t.at["22_10", "n_features"] == 1288
    assert t.at["22_10", "feature_dim"] == 16
    assert t.at["22_10", "feature_dtype"] == "float32"
    assert t.at["22_10", "feature_path"] == str(feats / "22_10_synthetic.npy")
    # Inferred from duration(sec): 1287.15 / 1288 (duration(min) would give 1138.8 / 1288).
    assert t.at["22_10", "feature_period_s"] == pytest.approx(1287.15 / 1288)
    assert t.at["1_7", "feature_period_s"] == pytest.approx(603.1 / 604)
    assert set(t["status"]) == {"ok"}
    # Configured 1 s agrees with duration(sec) within 5 %: accepted (with duration(min) it
    # would be 0.884 s per feature, 11.6 % off, and fail).
    cfg["features"]["period_s"] = 1.0
    t = build_video_table(cfg).set_index("video_id")
    assert t.at["22_10", "feature_period_s"] == 1.0


# ------------------------------------------------------------------ hand-made copies


def test_tiny_activities_footer_and_order(tiny_root):
    acts = ann.read_activities(tiny_root / "annotation_csv" / "average_segment_length.csv")
    assert sorted(zip(acts["activity_id"], acts["activity_name"])) == [
        (1, "Tiny Toast"), (2, "Mini Mug Cake")]


# Hand-counted from conftest.TINY_RECORDINGS: unique step ids with times (-1 rows excluded).
TINY_RECORDING_STEPS = {"1_7": 3, "1_8": 3, "1_70": 3, "2_3": 3, "2_30": 4, "2_4": 2}
TINY_ACTIVITY = {"1_7": 1, "1_8": 1, "1_70": 1, "2_3": 2, "2_30": 2, "2_4": 2}


@pytest.mark.parametrize("strategy", ["task_graph_nodes", "task_graph_steps", "recording_steps",
                                      "fixed"])
@pytest.mark.parametrize("steps_file", ["annotation_csv/step_annotations.csv",
                                        "annotation_json/step_annotations.json"])
def test_tiny_k_strategies(tiny_root, empty_features, strategy, steps_file):
    cfg = params_config(tiny_root, empty_features, strategy=strategy,
                        k_fixed=5 if strategy == "fixed" else None, step_annotations=steps_file)
    t = build_video_table(cfg).set_index("video_id")
    assert set(t.index) == set(TINY_RECORDING_STEPS)
    for vid, activity in TINY_ACTIVITY.items():
        if strategy == "recording_steps":
            expected = TINY_RECORDING_STEPS[vid]
        elif strategy == "fixed":
            expected = 5
        else:
            expected = TINY_K[strategy][activity]
        assert t.at[vid, "n_clusters"] == expected, vid


def test_tiny_files_are_joined_on_ids(tiny_root, tmp_path):
    """Recordings, metadata and features are in different orders; ``1_7`` vs ``1_70``."""
    feats = tmp_path / "feats"
    for vid, n in [("1_70", 61), ("1_7", 48), ("2_30", 44), ("2_3", 52)]:
        write_synthetic_features(feats, vid, n, dim=8)
    cfg = params_config(tiny_root, feats, missing="error",
                        videos={"recording_ids": ["2_30", "1_7", "2_3", "1_70"]})
    t = build_video_table(cfg).set_index("video_id")
    expected = {"1_7": (1, "Tiny Toast", 47.6, 48), "1_70": (1, "Tiny Toast", 60.3, 61),
                "2_3": (2, "Mini Mug Cake", 51.5, 52), "2_30": (2, "Mini Mug Cake", 43.2, 44)}
    assert set(t.index) == set(expected)
    for vid, (aid, name, dur, n) in expected.items():
        assert t.at[vid, "activity_id"] == aid
        assert t.at[vid, "activity_name"] == name
        assert t.at[vid, "duration_s"] == pytest.approx(dur)
        assert t.at[vid, "n_features"] == n
        assert t.at[vid, "feature_path"] == str(feats / f"{vid}_synthetic.npy")


def test_tiny_duration_seconds_not_minutes(tiny_root, tmp_path):
    # The tiny metadata's duration(min) is half the true length: using it would give a
    # period of 0.5 s per feature against the configured 1 s and fail the check.
    feats = tmp_path / "feats"
    write_synthetic_features(feats, "1_70", 61)
    cfg = params_config(tiny_root, feats, missing="error", period_s=None,
                        videos={"recording_ids": ["1_70"]})
    t = build_video_table(cfg)
    assert t.loc[0, "feature_period_s"] == pytest.approx(60.3 / 61)
    cfg["features"]["period_s"] = 1.0
    assert build_video_table(cfg).loc[0, "feature_period_s"] == 1.0


def test_selection_compares_ids_as_strings(tiny_root, empty_features):
    recs = ann.read_recordings(tiny_root / "annotation_csv" / "recording_id_step_idx.csv")
    recs = recs.rename(columns={"recording_id": "video_id"})
    chosen = select_videos(recs, {"recording_ids": ["1_7"]}, tiny_root)
    assert list(chosen["video_id"]) == ["1_7"]  # not 1_70
    # An unquoted 1_7 in YAML 1.1 is the integer 17: an error, never a silent match.
    with pytest.raises(InputError, match="17"):
        select_videos(recs, {"recording_ids": [17]}, tiny_root)


def test_activity_without_task_graph_is_an_error_naming_it(tmp_path, empty_features):
    graphs = {k: v for k, v in TINY_GRAPHS.items() if k != "minimugcake.json"}
    root = write_tiny_annotations(tmp_path / "cc4d_synthetic", graphs=graphs)
    with pytest.raises(InputError) as err:
        build_video_table(params_config(root, empty_features))
    msg = str(err.value)
    assert "Mini Mug Cake" in msg
    assert "minimugcake.json" in msg
    assert "Tiny Toast" not in msg


def test_unknown_activity_is_an_error_naming_video_and_file(tmp_path, empty_features):
    root = write_tiny_annotations(tmp_path / "cc4d_synthetic")
    recordings = root / "annotation_csv" / "recording_id_step_idx.csv"
    with open(recordings, "a") as fh:
        fh.write('"3_1","3","301,302"\n')
    with pytest.raises(InputError) as err:
        build_video_table(params_config(root, empty_features))
    msg = str(err.value)
    assert "3_1" in msg
    assert str(recordings) in msg
    assert "activit" in msg


def test_k_fixed_below_two_is_a_config_error(tmp_path, empty_features):
    root = write_tiny_annotations(tmp_path / "cc4d_synthetic")
    with pytest.raises(InputError, match="k_fixed"):
        params_config(root, empty_features, strategy="fixed", k_fixed=1)


def test_k_below_two_is_an_error_naming_the_video(tmp_path, empty_features):
    """Segmentation needs K >= 2: K = 1 must fail when the video table is built, naming the
    video, not crash every segment job later with a traceback that names none."""
    graphs = dict(TINY_GRAPHS)
    graphs["tinytoast.json"] = {"steps": {"0": "START", "1": "Toast-Toast the bread",
                                          "2": "END"}, "edges": [[0, 1], [1, 2]]}
    root = write_tiny_annotations(tmp_path / "cc4d_synthetic", graphs=graphs)
    cfg = params_config(root, empty_features, videos={"recording_ids": ["1_7"]})
    with pytest.raises(InputError) as err:
        build_video_table(cfg)
    assert "1_7" in str(err.value)


def test_task_graph_json_keys_are_strings(tmp_path, empty_features):
    """Local node ids are JSON string keys; counting goes by node, never by max id."""
    graphs = dict(TINY_GRAPHS)
    graphs["tinytoast.json"] = {"steps": {"0": "START", "10": "Slice", "20": "Toast", "99": "END"},
                                "edges": [[0, 10], [10, 20], [20, 99]]}
    root = write_tiny_annotations(tmp_path / "cc4d_synthetic", graphs=graphs)
    t = build_video_table(params_config(root, empty_features, strategy="task_graph_nodes"))
    t = t.set_index("video_id")
    assert t.at["1_7", "n_clusters"] == 4
