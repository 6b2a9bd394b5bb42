"""The demo-style run with evaluation and the Snakemake report, on the real embedded
annotations and SYNTHETIC features generated from them (steploc.demo)."""

from __future__ import annotations

import pandas as pd
import pytest
import yaml

from conftest import CC4D_ROOT, run_output, run_snakemake
from steploc.demo import SYNTHETIC_PATTERN, write_demo_features

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def evaluated_run(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("evaluated")
    config = {
        "annotations": {"root": str(CC4D_ROOT)},
        "videos": {"recording_ids": ["8_3", "8_11", "12_2", "12_5"]},
        "features": {"dir": str(workdir / "features_synthetic"), "pattern": SYNTHETIC_PATTERN,
                     "period_s": 1.0},
        "models": {"raw": {"type": "raw", "depth": 2}},
        "clustering": {"default": {}},
        "evaluation": {"report_videos": 2},
    }
    write_demo_features(config, config["features"]["dir"])
    (workdir / "config.yaml").write_text(yaml.safe_dump(config))
    proc = run_snakemake(workdir, "--cores", "2", "--resources", "gpu=1")
    assert proc.returncode == 0, run_output(proc)
    report = run_snakemake(workdir, "--report", "report.html")
    assert report.returncode == 0, run_output(report)
    return workdir


def test_metrics_tables_rank_raw_far_above_the_baselines(evaluated_run):
    overall = pd.read_parquet(evaluated_run / "results/metrics/overall.parquet")
    f1 = overall.set_index("model")["f1"]
    assert set(overall["setting"]) == {"default", "baseline"}
    # Plumbing check on synthetic features built from the ground truth: far above the floors.
    assert f1["raw"] > f1["random"] + 0.4
    assert f1["raw"] > f1["uniform"] + 0.05
    assert (overall["videos_scored"] == 4).all() and (overall["videos_skipped"] == 0).all()
    videos = pd.read_parquet(evaluated_run / "results/metrics/raw/default/videos.parquet")
    assert sorted(videos["video_id"]) == ["12_2", "12_5", "8_11", "8_3"]
    activities = pd.read_parquet(evaluated_run / "results/metrics/raw/default/activities.parquet")
    assert sorted(activities["activity_id"]) == [8, 12]


def test_report_holds_the_table_and_figures(evaluated_run):
    html = (evaluated_run / "report.html").read_text(errors="replace")
    for item in ("overall.csv", "f1_per_activity.png", "8_3.png", "12_2.png"):
        assert item in html, item
    timelines = sorted(p.name for p in (evaluated_run / "results/report/timelines").iterdir())
    assert timelines == ["12_2.png", "8_3.png"]  # one per recipe, report_videos: 2


def test_demo_segments_tile_each_video(evaluated_run):
    """Contiguous, ordered, from 0 to the video's end (within one depth-2 node = 4 s)."""
    segments = pd.read_parquet(evaluated_run / "results/summary/raw/default/segments.parquet")
    videos = pd.read_parquet(evaluated_run / "results/summary/raw/default/videos.parquet")
    for video in videos.itertuples():
        seg = segments[segments.video_id == video.video_id].sort_values("segment_idx")
        assert len(seg) == video.n_segments > 0
        assert seg.start_s.iloc[0] == 0.0
        assert (seg.start_s.to_numpy()[1:] == seg.end_s.to_numpy()[:-1]).all()
        assert (seg.end_s > seg.start_s).all()
        assert abs(seg.end_s.iloc[-1] - video.duration_s) <= 4 * video.feature_period_s
