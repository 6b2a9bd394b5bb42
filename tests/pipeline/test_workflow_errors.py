"""Bad inputs through the whole workflow: a clear error naming the video and the file, or a
recorded skip where the config asks for one; never a half-written output.

Tiny hand-made annotations and SYNTHETIC feature files (conftest), broken on purpose.
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest
import yaml

from conftest import run_output, run_snakemake, write_synthetic_features

from .workflow_helpers import check_segments_cover_videos, temp_leftovers

pytestmark = pytest.mark.slow

RUN = ("--cores", "2", "--resources", "gpu=1")
VIDEOS = ["1_7", "1_70", "2_3"]


def numbers_in(text: str) -> list[float]:
    return [float(m) for m in re.findall(r"\d+\.\d+|\d+", text)]


def assert_failed_cleanly(wd, proc):
    assert proc.returncode != 0, run_output(proc)
    assert wd.results_files() == [], wd.results_files()  # nothing at all was written


# ------------------------------------------------------------------ parse-time errors
# (the params table is built when the workflow is parsed: no job runs, nothing is written)


def case_missing_feature(make_workdir):
    wd = make_workdir(VIDEOS, features={"1_7": 48, "2_3": 52})
    return wd, "1_70", str(wd.features_dir), ["no feature file"]


def case_two_candidates(make_workdir):
    # "{video_id}*.npy": 1_70_synthetic.npy is also a candidate of 1_7.
    wd = make_workdir(VIDEOS, overrides={"features": {"pattern": "{video_id}*.npy"}})
    return wd, "1_7", str(wd.features_dir / "1_70_synthetic.npy"), [
        str(wd.features_dir / "1_7_synthetic.npy")]


def case_wrong_dimension(make_workdir):
    wd = make_workdir(VIDEOS)
    write_synthetic_features(wd.features_dir, "2_3", 52, dim=8)  # the others have 16
    return wd, "2_3", str(wd.features_dir / "2_3_synthetic.npy"), ["dimension", "8", "16"]


def case_empty_array(make_workdir):
    wd = make_workdir(VIDEOS)
    np.save(wd.features_dir / "1_70_synthetic.npy", np.zeros((0, 16), np.float32))
    return wd, "1_70", str(wd.features_dir / "1_70_synthetic.npy"), ["empty"]


def case_unknown_activity(make_workdir):
    wd = make_workdir(VIDEOS)
    recordings = wd.annotations / "annotation_csv" / "recording_id_step_idx.csv"
    with open(recordings, "a") as fh:
        fh.write('"3_1","3","301,302"\n')  # activity 3 is not in average_segment_length.csv
    write_synthetic_features(wd.features_dir, "3_1", 40)
    wd.config["videos"]["recording_ids"] = VIDEOS + ["3_1"]
    wd.write_config()
    return wd, "3_1", str(recordings), ["activity 3"]


def case_period_mismatch(make_workdir):
    # The notebook's 16/30 s per feature against 1 s features: 1_7 is 47.6 s over 48 rows.
    wd = make_workdir(["1_7"], overrides={"features": {"period_s": 16 / 30}})
    return wd, "1_7", str(wd.features_dir / "1_7_synthetic.npy"), ["period"]


PARSE_CASES = {
    "missing_feature": case_missing_feature,
    "two_candidates": case_two_candidates,
    "wrong_dimension": case_wrong_dimension,
    "empty_array": case_empty_array,
    "unknown_activity": case_unknown_activity,
    "period_mismatch": case_period_mismatch,
}


@pytest.mark.parametrize("case", list(PARSE_CASES))
def test_parse_time_error_names_video_and_file(make_workdir, case):
    wd, video, file, phrases = PARSE_CASES[case](make_workdir)
    proc = run_snakemake(wd, *RUN)
    assert_failed_cleanly(wd, proc)
    err = proc.stderr
    assert video in err, run_output(proc)
    assert file in err, run_output(proc)
    for phrase in phrases:
        assert phrase in err, (phrase, run_output(proc))
    if case == "period_mismatch":
        nums = numbers_in(err[err.index("period"):])
        assert any(n == pytest.approx(16 / 30, rel=1e-4) for n in nums), err
        assert any(n == pytest.approx(47.6 / 48, rel=1e-4) for n in nums), err


# ------------------------------------------------------------------ errors inside a job


def test_nan_features_fail_the_hierarchy_job_without_output(make_workdir):
    wd = make_workdir(VIDEOS)
    bad = wd.features_dir / "1_70_synthetic.npy"
    x = np.load(bad)
    x[5, 3] = np.nan
    np.save(bad, x)
    proc = run_snakemake(wd, *RUN)
    assert proc.returncode != 0, run_output(proc)
    log = (wd.path / "logs" / "hierarchy" / "raw" / "1_70.log").read_text()
    assert "1_70" in log and str(bad) in log and "NaN" in log and "row 5" in log
    assert "hierarchy" in proc.stderr and "1_70" in proc.stderr
    results = wd.path / "results"
    assert not list((results / "hierarchy" / "raw").glob("1_70.*"))
    assert not (results / "summary").exists()  # never summarised as complete
    assert temp_leftovers(results) == []


# ------------------------------------------------------------------ recorded skips


def test_missing_features_and_short_video_are_recorded_skips(make_workdir):
    """1_8 has no feature file (features.missing: skip); 2_4 has 10 features = 3 nodes < K = 4:
    skipped under short_video: skip, clustered with K = 3 under short_video: cap."""
    videos = ["1_7", "1_8", "2_3", "2_4"]
    wd = make_workdir(videos, features={"1_7": 48, "2_3": 52, "2_4": 10},
                      overrides={"features": {"missing": "skip"}})
    base = dict(wd.config["clustering"]["fast"])
    wd.config["clustering"] = {"skipshort": {**base, "short_video": "skip"},
                               "capshort": {**base, "short_video": "cap"}}
    wd.write_config()
    proc = run_snakemake(wd, *RUN)
    assert proc.returncode == 0, run_output(proc)

    params = pd.read_parquet(wd.path / "results" / "video_table.parquet").set_index("video_id")
    assert params.at["1_8", "status"] == "skipped"
    assert "no feature file" in params.at["1_8", "reason"]
    assert pd.isna(params.at["1_8", "n_features"])

    skip, _ = check_segments_cover_videos(wd.path, "raw", "skipshort", 2, ["1_7", "2_3"])
    cap, cap_segments = check_segments_cover_videos(wd.path, "raw", "capshort", 2,
                                                    ["1_7", "2_3", "2_4"])
    for videos_table in (skip, cap):
        assert len(videos_table) == 4  # one row per video, skipped ones included
        assert videos_table.at["1_8", "status"] == "skipped"
        assert "no feature file" in videos_table.at["1_8", "reason"]
    assert skip.at["2_4", "status"] == "skipped"
    reason = skip.at["2_4", "reason"]
    assert "too short" in reason and "3" in reason and "4" in reason
    assert skip.at["2_4", "n_clusters"] == 0 and skip.at["2_4", "n_segments"] == 0
    assert cap.at["2_4", "status"] == "ok"
    assert cap.at["2_4", "n_nodes"] == 3 and cap.at["2_4", "n_clusters"] == 3
    assert (cap_segments["video_id"] == "2_4").sum() == cap.at["2_4", "n_segments"] >= 1
    assert temp_leftovers(wd.path / "results") == []


# ------------------------------------------------------------------ config schema


@pytest.mark.parametrize("override, words", [
    ({"features": {"perod_s": 1.0}}, ["perod_s"]),
    ({"params": {"k_strategy": "nodes"}}, ["k_strategy", "nodes"]),
    ({"clustering": {"fast": {"smoothing": "gaussian"}}}, ["smoothing", "gaussian"]),
    ({"batching": {"shards": -1}}, ["shards"]),
    ({"clustering": {"fast": {"temprature": 0.1}}}, ["temprature"]),
    # mode smoothing needs an odd window: 4 must fail at parse time, not in every segment job.
    ({"clustering": {"fast": {"smoothing_window": 4}}}, ["smoothing_window"]),
    # typos in nested objects must not be silently ignored (depth would fall back to 2).
    ({"models": {"raw": {"dept": 3}}}, ["dept"]),
    ({"resources": {"hierarchy": {"thread": 2}}}, ["thread"]),
], ids=["unknown_features_key", "bad_k_strategy", "bad_smoothing", "negative_shards",
        "unknown_clustering_key", "even_window", "unknown_model_key", "unknown_resources_key"])
def test_invalid_config_fails_at_parse_time_naming_the_key(make_workdir, override, words):
    wd = make_workdir(["1_7"])
    cfg = wd.variant("invalid", **override)
    proc = run_snakemake(wd, *RUN, configfile=cfg)
    assert_failed_cleanly(wd, proc)
    for word in words:
        assert word in proc.stderr, run_output(proc)


def test_unquoted_recording_id_in_yaml_is_rejected(make_workdir):
    """YAML 1.1 reads an unquoted 1_7 as the integer 17: a schema error naming the key, never a
    silent match against another recording."""
    wd = make_workdir(["1_7"])
    text = wd.configfile.read_text()
    assert "- '1_7'" in text
    cfg = wd.path / "unquoted.yaml"
    cfg.write_text(text.replace("- '1_7'", "- 1_7"))
    assert yaml.safe_load(cfg.read_text())["videos"]["recording_ids"] == [17]
    proc = run_snakemake(wd, *RUN, configfile=cfg)
    assert_failed_cleanly(wd, proc)
    assert "recording_ids" in proc.stderr, run_output(proc)
