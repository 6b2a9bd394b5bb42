"""HiERO as a model of the hierarchy stage, on a checkpoint with RANDOM weights written in the
official train.py format (steploc.hiero.testing), and SYNTHETIC 256-d features."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from conftest import create_workdir, run_output, run_snakemake
from steploc.hiero.testing import write_random_checkpoint

pytestmark = pytest.mark.slow

RECORDINGS = ["1_7", "2_3"]


def hiero_workdir(path, checkpoint, features):
    return create_workdir(path, RECORDINGS + ["2_4"], features=features, overrides={
        "videos": {"recording_ids": RECORDINGS + ["2_4"]},
        # period inferred from each video's duration: the short video has 4 rows over 9.7 s
        "features": {"period_s": None, "period_tolerance": 0.05},
        "models": {"hiero_random": {"type": "hiero", "checkpoint": str(checkpoint),
                                    "depth": 2, "positions": "index"}},
        "clustering": {"fast": {"short_video": "cap"}},
    })


def write_256d_features(wd, n_rows: dict[str, int]):
    from conftest import write_synthetic_features

    for vid, n in n_rows.items():
        write_synthetic_features(wd.features_dir, vid, n, dim=256)


@pytest.fixture(scope="module")
def hiero_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("hiero")
    checkpoint = write_random_checkpoint(root / "hiero_RANDOM_WEIGHTS.pth")
    rows = {"1_7": 48, "2_3": 52, "2_4": 4}
    wd = hiero_workdir(root / "wd", checkpoint, rows)
    write_256d_features(wd, rows)
    proc = run_snakemake(wd, "--cores", "2", "--resources", "gpu=1")
    assert proc.returncode == 0, run_output(proc)
    return wd


def test_hiero_nodes_and_times(hiero_run):
    from steploc.intermediate import read_hierarchy

    base = hiero_run.path / "results/hierarchy/hiero_random/1_7"
    h = read_hierarchy(f"{base}.nodes.parquet", f"{base}.videos.parquet")["1_7"]
    assert h.status == "ok"
    assert h.features.shape == (12, 32)  # ceil(48 / 4) nodes, hidden 32
    assert np.isfinite(h.features).all()
    segments = pd.read_parquet(hiero_run.path / "results/summary/hiero_random/fast/segments.parquet")
    first = segments[segments.video_id == "1_7"]
    period = 47.6 / 48  # inferred from the duration: the real period, not 16/30
    np.testing.assert_allclose(first["start_s"], first["start_feature"] * period)


def test_too_short_video_is_a_recorded_skip(hiero_run):
    videos = pd.read_parquet(hiero_run.path / "results/summary/hiero_random/fast/videos.parquet")
    short = videos.set_index("video_id").loc["2_4"]
    assert short["status"] == "skipped"
    assert "too short for HiERO" in short["reason"]
    assert (videos.set_index("video_id").loc[RECORDINGS, "status"] == "ok").all()


def test_bad_checkpoint_fails_before_any_video(tmp_path):
    """The hierarchy job's loader is the validation: the job fails naming the file and the
    problem before it reads a video, and the model has no outputs."""
    bad = tmp_path / "not_a_checkpoint.pth"
    bad.write_text("this is a text file, not a checkpoint\n")
    rows = {"1_7": 48, "2_3": 52, "2_4": 4}
    wd = hiero_workdir(tmp_path / "wd", bad, rows)
    write_256d_features(wd, rows)
    proc = run_snakemake(wd, "--cores", "1", "--resources", "gpu=1")
    assert proc.returncode != 0
    logs = list((wd.path / "logs/hierarchy/hiero_random").glob("*.log"))
    assert logs, run_output(proc)
    for log in logs:
        text = log.read_text()
        assert "not_a_checkpoint.pth" in text and "not a readable torch checkpoint" in text
        assert "Traceback" not in text and "steploc.hierarchy: video" not in text
    assert not (wd.path / "results/hierarchy/hiero_random").exists()
    assert not (wd.path / "results/segments/hiero_random").exists()


def test_missing_checkpoint_fails_at_parse_time(tmp_path):
    rows = {"1_7": 48, "2_3": 52, "2_4": 4}
    wd = hiero_workdir(tmp_path / "wd", tmp_path / "absent.pth", rows)
    write_256d_features(wd, rows)
    proc = run_snakemake(wd, "-n")
    assert proc.returncode != 0
    assert "absent.pth" in proc.stderr + proc.stdout and "not found" in proc.stderr + proc.stdout
