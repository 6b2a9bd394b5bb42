"""Hostile and careless inputs through the real ``snakemake`` command: ids are data, never code;
bad ground truth is never silently dropped; a run of only skips still writes valid tables;
stale inputs are noticed; every message names the video, the file and the real problem.

Tiny hand-made annotations and SYNTHETIC features (conftest), altered on purpose.
"""

from __future__ import annotations

import csv
import os
import shutil

import numpy as np
import pandas as pd
import pytest

from conftest import run_output, run_snakemake, write_synthetic_features
from pipeline.workflow_helpers import plan, temp_leftovers

pytestmark = pytest.mark.slow

RUN = ("--cores", "2", "--resources", "gpu=1")
VIDEOS = ["1_7", "1_70", "2_3"]


def recordings_csv(wd):
    return wd.annotations / "annotation_csv" / "recording_id_step_idx.csv"


def steps_csv(wd):
    return wd.annotations / "annotation_csv" / "step_annotations.csv"


def append_rows(path, rows):
    with open(path, "a", newline="") as fh:
        csv.writer(fh, quoting=csv.QUOTE_ALL, lineterminator="\n").writerows(rows)


def line_of(path, text) -> int:
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        if text in line:
            return number
    raise AssertionError(f"{text!r} not in {path}")


def assert_failed_before_any_job(wd, proc):
    assert proc.returncode != 0, run_output(proc)
    assert wd.results_files() == [], wd.results_files()


# ------------------------------------------------------------------ ids are data, never code

HOSTILE_IDS = {
    "backticks": "12_2`touch {marker}`",
    "dollar_paren": "12_2$(touch {marker})",
    "semicolon": "12_2;touch {marker}",
    "space": "12_2 b",
    "traversal": "../../../escaped",
    "leading_dot": ".hidden",
    "newline_free_unicode": "12_2\u2024x",  # one-dot leader: looks like "12_2.x"
}


@pytest.mark.parametrize("case", list(HOSTILE_IDS))
def test_hostile_recording_id_is_refused_and_never_executed(make_workdir, tmp_path, case):
    marker = tmp_path / f"MARKER_{case}"
    hostile = HOSTILE_IDS[case].format(marker=marker)
    wd = make_workdir(VIDEOS)
    append_rows(recordings_csv(wd), [[hostile, "1", "101,102"]])
    append_rows(steps_csv(wd), [[hostile, "101", "0.0", "10.0", "Step 101", "False"]])
    if "/" not in hostile:
        write_synthetic_features(wd.features_dir, hostile, 40)
    wd.config["videos"]["recording_ids"] = VIDEOS + [hostile]
    wd.write_config()
    proc = run_snakemake(wd, *RUN)
    assert_failed_before_any_job(wd, proc)
    assert not marker.exists()
    err = proc.stderr
    assert repr(hostile) in err, run_output(proc)  # the id,
    assert str(recordings_csv(wd)) in err  # the file,
    assert f"line {line_of(recordings_csv(wd), hostile)}" in err
    assert "allowed" in err


def test_hostile_id_in_the_step_annotations_is_refused(make_workdir, tmp_path):
    marker = tmp_path / "MARKER"
    wd = make_workdir(VIDEOS)
    hostile = f"1_7$(touch {marker})"
    append_rows(steps_csv(wd), [[hostile, "101", "0.0", "10.0", "Step 101", "False"]])
    proc = run_snakemake(wd, *RUN)
    assert_failed_before_any_job(wd, proc)
    assert not marker.exists()
    assert repr(hostile) in proc.stderr and str(steps_csv(wd)) in proc.stderr, run_output(proc)
    assert f"line {line_of(steps_csv(wd), 'touch')}" in proc.stderr


def test_activity_name_cannot_escape_the_task_graph_folder(make_workdir):
    wd = make_workdir(VIDEOS)
    activities = wd.annotations / "annotation_csv" / "average_segment_length.csv"
    text = activities.read_text().replace('"Tiny Toast"', '"../../Tiny Toast"')
    activities.write_text(text)
    proc = run_snakemake(wd, *RUN)
    assert_failed_before_any_job(wd, proc)
    assert "../../Tiny Toast" in proc.stderr and str(activities) in proc.stderr


@pytest.mark.parametrize("section, name", [("models", "random"), ("models", "uniform"),
                                           ("clustering", "baseline")])
def test_baseline_names_are_reserved(make_workdir, section, name):
    """A model named like a baseline used to get the baseline's scores (exit 0)."""
    wd = make_workdir(VIDEOS)
    entries = wd.config[section]
    wd.config[section] = {name: next(iter(entries.values()))}
    wd.write_config()
    proc = run_snakemake(wd, *RUN)
    assert_failed_before_any_job(wd, proc)
    assert f"{section}.{name}" in proc.stderr and "reserved" in proc.stderr, run_output(proc)


# ------------------------------------------------------------------ strict ground truth


def test_malformed_step_time_is_an_error_naming_file_line_and_value(make_workdir):
    """`12.3.4` used to drop the step silently from the ground truth."""
    wd = make_workdir(VIDEOS)
    path = steps_csv(wd)
    path.write_text(path.read_text().replace('"1_70","103","40.0"', '"1_70","103","12.3.4"'))
    proc = run_snakemake(wd, *RUN)
    assert_failed_before_any_job(wd, proc)
    err = proc.stderr
    assert "'12.3.4'" in err and str(path) in err and "1_70" in err, run_output(proc)
    assert f"line {line_of(path, '12.3.4')}" in err


def test_malformed_step_time_can_be_a_recorded_skip(make_workdir):
    wd = make_workdir(VIDEOS, overrides={"annotations": {"invalid_steps": "skip"}})
    path = steps_csv(wd)
    path.write_text(path.read_text().replace('"1_70","103","40.0"', '"1_70","103","12.3.4"'))
    proc = run_snakemake(wd, *RUN)
    assert proc.returncode == 0, run_output(proc)
    metrics = pd.read_parquet(wd.path / "results/metrics/raw/fast/videos.parquet")
    metrics = metrics.set_index("video_id")
    assert metrics.at["1_70", "status"] == "skipped"
    assert "12.3.4" in metrics.at["1_70", "reason"]
    assert f"line {line_of(path, '12.3.4')}" in metrics.at["1_70", "reason"]
    assert np.isnan(metrics.at["1_70", "f1"])
    assert metrics.at["1_7", "status"] == "ok" and metrics.at["2_3", "status"] == "ok"
    overall = pd.read_parquet(wd.path / "results/metrics/overall.parquet")
    assert "1_70" in overall.loc[overall["model"] == "raw", "skipped_videos"].iloc[0]


def test_footer_rows_in_the_step_annotations_name_the_line(make_workdir):
    """A footer used to crash with IntCastingNaNError and no file or row named."""
    wd = make_workdir(VIDEOS)
    with open(steps_csv(wd), "a") as fh:
        fh.write('"=========="\n"Total","","","","",""\n')
    proc = run_snakemake(wd, *RUN)
    assert_failed_before_any_job(wd, proc)
    assert str(steps_csv(wd)) in proc.stderr, run_output(proc)
    assert f"line {line_of(steps_csv(wd), '==========')}" in proc.stderr
    assert "Traceback" not in proc.stderr


@pytest.mark.parametrize("row, phrase", [
    (["1_7", "104", "30.0", "20.0", "Step 104", "False"], "before it starts"),
    (["1_7", "104", "47.9", "49.0", "Step 104", "False"], "outside the video"),  # 47.6 s video
    (["1_7", "104", "10.0", "60.0", "Step 104", "False"], "outside the video"),
    (["1_7", "104", "-3.0", "5.0", "Step 104", "False"], "negative"),
])
def test_impossible_step_times_are_errors(make_workdir, row, phrase):
    wd = make_workdir(VIDEOS)
    append_rows(steps_csv(wd), [row])
    proc = run_snakemake(wd, *RUN)
    assert_failed_before_any_job(wd, proc)
    assert phrase in proc.stderr and str(steps_csv(wd)) in proc.stderr, run_output(proc)
    assert f"line {len(steps_csv(wd).read_text().splitlines())}" in proc.stderr


# ------------------------------------------------------------------ complete or clearly not


@pytest.fixture
def completed(make_workdir):
    wd = make_workdir(VIDEOS)
    proc = run_snakemake(wd, *RUN)
    assert proc.returncode == 0, run_output(proc)
    return wd


def test_deleted_per_video_output_is_rebuilt_by_a_plain_rerun(completed):
    wd = completed
    deleted = wd.path / "results" / "segments" / "raw" / "fast" / "1_70.segments.parquet"
    deleted.unlink()
    proc = run_snakemake(wd, "-n", *RUN)
    assert proc.returncode == 0 and plan(proc.stdout).get("segment") == 1, run_output(proc)
    proc = run_snakemake(wd, *RUN)
    assert proc.returncode == 0, run_output(proc)
    assert deleted.is_file()


def test_changed_feature_content_with_the_same_mtime_is_recomputed(completed, make_workdir):
    """`cp -p` / `rsync -a` keep the mtime; the content fingerprint still reruns the video."""
    wd = completed
    path = wd.features_dir / "1_70_synthetic.npy"
    stat = os.stat(path)
    replacement = wd.path / "replacement.npy"
    np.save(replacement, np.load(path)[::-1].copy())  # same shape, other content
    shutil.copyfile(replacement, path)
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert os.stat(path).st_mtime_ns == stat.st_mtime_ns
    proc = run_snakemake(wd, "-n", *RUN)
    assert proc.returncode == 0, run_output(proc)
    stats = plan(proc.stdout)
    assert stats.get("hierarchy") == 1 and stats.get("segment") == 1, proc.stdout
    assert "1_70" in proc.stdout
    proc = run_snakemake(wd, *RUN)
    assert proc.returncode == 0, run_output(proc)
    # the same result as a clean run on the new data
    clean = make_workdir(VIDEOS, name="clean")
    shutil.copyfile(path, clean.features_dir / "1_70_synthetic.npy")
    proc = run_snakemake(clean, *RUN)
    assert proc.returncode == 0, run_output(proc)
    for name in ("segments", "step_embeddings", "videos"):
        relative = f"results/summary/raw/fast/{name}.parquet"
        pd.testing.assert_frame_equal(pd.read_parquet(wd.path / relative),
                                      pd.read_parquet(clean.path / relative))


@pytest.mark.parametrize("case", ["no_features_at_all", "k_above_every_video"])
def test_a_run_of_only_skips_writes_valid_tables_listing_them(make_workdir, case):
    if case == "no_features_at_all":
        wd = make_workdir(VIDEOS, features={}, overrides={"features": {"missing": "skip"}})
        reason = "no feature file"
    else:
        wd = make_workdir(VIDEOS, overrides={"params": {"k_strategy": "fixed", "k_fixed": 90}})
        reason = "too short"
    proc = run_snakemake(wd, *RUN)
    assert proc.returncode == 0, run_output(proc)
    summary = wd.path / "results" / "summary" / "raw" / "fast"
    videos = pd.read_parquet(summary / "videos.parquet")
    assert sorted(videos["video_id"]) == sorted(VIDEOS)
    assert set(videos["status"]) == {"skipped"}
    assert videos["reason"].str.contains(reason).all(), videos["reason"].tolist()
    assert pd.read_parquet(summary / "segments.parquet").empty
    assert pd.read_parquet(summary / "step_embeddings.parquet").empty
    overall = pd.read_parquet(wd.path / "results" / "metrics" / "overall.parquet")
    raw = overall[overall["model"] == "raw"].iloc[0]
    assert raw["videos_scored"] == 0 and raw["videos_skipped"] == len(VIDEOS)
    assert all(v in raw["skipped_videos"] for v in VIDEOS)
    assert np.isnan(raw["f1"])


def test_values_near_the_float32_maximum_fail_naming_video_and_file(make_workdir):
    """They used to become Inf/NaN node features that were written and called done."""
    wd = make_workdir(VIDEOS)
    path = wd.features_dir / "2_3_synthetic.npy"
    x = np.load(path)
    x[7] = 3.0e38
    np.save(path, x)
    proc = run_snakemake(wd, *RUN)
    assert proc.returncode != 0, run_output(proc)
    log = (wd.path / "logs" / "hierarchy" / "raw" / "2_3.log").read_text()
    assert "2_3" in log and str(path) in log and "row 7" in log and "float32" in log, log
    assert not list((wd.path / "results" / "hierarchy" / "raw").glob("2_3.*"))
    assert temp_leftovers(wd.path / "results") == []


def test_overflow_inside_the_model_is_caught_where_it_happens():
    """Below the input limit, a model that still overflows fails in the hierarchy stage,
    naming the stage and the video, instead of writing Inf."""
    from steploc.errors import InputError
    from steploc.hierarchy import check_finite_output

    out = np.array([[1.0, 2.0], [np.inf, 0.0]], np.float32)
    with pytest.raises(InputError, match=r"hierarchy stage.*node 1") as err:
        check_finite_output(out, "2_3", "/data/2_3.npy", "hierarchy stage (model 'raw')")
    assert "'2_3'" in str(err.value) and "/data/2_3.npy" in str(err.value)


# ------------------------------------------------------------------ messages


def feature_error(make_workdir, write):
    wd = make_workdir(VIDEOS)
    path = wd.features_dir / "1_70_synthetic.npy"
    write(path)
    proc = run_snakemake(wd, *RUN)
    assert proc.returncode != 0, run_output(proc)
    assert "1_70" in proc.stderr and str(path) in proc.stderr, run_output(proc)
    assert "allow_pickle" not in proc.stderr and "unsafe" not in proc.stderr
    return proc.stderr


def test_text_file_named_npy(make_workdir):
    err = feature_error(make_workdir, lambda p: p.write_text("0.1 0.2\n0.3 0.4\n"))
    assert "not a NumPy .npy file" in err and "pickled" not in err


def test_truncated_npy(make_workdir):
    def truncate(path):
        data = path.read_bytes()
        path.write_bytes(data[: len(data) // 2])

    err = feature_error(make_workdir, truncate)
    assert "truncated" in err and "mmap" not in err


def test_object_array_is_never_unpickled(make_workdir, tmp_path):
    marker = tmp_path / "UNPICKLED"

    class Payload:
        def __reduce__(self):
            return (open, (str(marker), "w"))

    def write(path):
        np.save(path, np.array([Payload(), 1], dtype=object), allow_pickle=True)

    err = feature_error(make_workdir, write)
    assert "Python objects" in err
    assert not marker.exists()


def test_float64_too_large_for_float32(make_workdir):
    def write(path):
        x = np.load(path).astype(np.float64)
        x[3, 0] = 1e300
        np.save(path, x)

    wd = make_workdir(VIDEOS)
    path = wd.features_dir / "1_70_synthetic.npy"
    write(path)
    proc = run_snakemake(wd, *RUN)
    assert proc.returncode != 0
    log = (wd.path / "logs" / "hierarchy" / "raw" / "1_70.log").read_text()
    assert "exceeds the float32 range" in log and "row 3" in log and "NaN" not in log, log


def test_mistyped_checkpoint_path_does_not_suggest_overwriting_it(make_workdir):
    wd = make_workdir(VIDEOS)
    typo = str(wd.path / "models" / "hiero_egovlp.ptth")
    wd.config["models"] = {"hiero": {"type": "hiero", "checkpoint": typo}}
    wd.write_config()
    proc = run_snakemake(wd, *RUN)
    assert_failed_before_any_job(wd, proc)
    assert typo in proc.stderr and "models.hiero.checkpoint" in proc.stderr
    assert f"--out {typo}" not in proc.stderr, run_output(proc)


def test_checkpoint_feature_dimension_mismatch_names_video_and_file(make_workdir, tmp_path):
    from steploc.hiero.testing import write_random_checkpoint

    checkpoint = write_random_checkpoint(tmp_path / "hiero_RANDOM_WEIGHTS.pth")  # 256-d input
    wd = make_workdir(VIDEOS)  # 16-d SYNTHETIC features
    wd.config["models"] = {"hiero": {"type": "hiero", "checkpoint": str(checkpoint)}}
    wd.write_config()
    proc = run_snakemake(wd, *RUN)
    assert proc.returncode != 0
    logs = "".join(p.read_text() for p in (wd.path / "logs" / "hierarchy").rglob("*.log"))
    assert "16-d" in logs and "256-d" in logs and str(checkpoint) in logs, logs
    assert "_synthetic.npy" in logs and any(v in logs for v in VIDEOS)


def test_even_smoothing_window_says_it_must_be_odd(make_workdir):
    wd = make_workdir(VIDEOS)
    wd.config["clustering"]["fast"]["smoothing_window"] = 4
    wd.write_config()
    proc = run_snakemake(wd, *RUN)
    assert_failed_before_any_job(wd, proc)
    assert "smoothing_window" in proc.stderr and "must be odd" in proc.stderr
    assert "multipleOf" not in proc.stderr, run_output(proc)
