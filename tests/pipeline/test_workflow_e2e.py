"""End-to-end Snakemake runs on a tiny config and the incremental-rerun dry runs.

Tiny hand-made annotations and SYNTHETIC block features (conftest); 4 videos of 40-61 s at
1 feature per second, raw model at depth 2, one clustering setting. The completed run of each
batching mode is shared by the tests of this module.
"""

from __future__ import annotations

import math
import os

import numpy as np
import pandas as pd
import pytest

from conftest import TINY_K, TINY_RECORDINGS, create_workdir, run_output, run_snakemake

from .workflow_helpers import check_segments_cover_videos, plan, planned_jobs, temp_leftovers

pytestmark = pytest.mark.slow

VIDEOS = ["1_7", "1_8", "1_70", "2_3"]  # shards=2: 1_8 -> shard0, the others -> shard1
ADDED = "2_30"
DEPTH = 2
RUN = ("--cores", "2", "--resources", "gpu=1")
TABLE_COLUMNS = [
    "video_id", "activity_id", "activity_name", "n_clusters", "k_strategy", "duration_s",
    "feature_path", "n_features", "feature_dim", "feature_period_s",
    "feature_dtype", "feature_layout", "feature_fingerprint", "shard", "status", "reason",
]


def completed_run(tmp_path_factory, shards: int):
    features = {v: TINY_RECORDINGS[v].n_features for v in VIDEOS + [ADDED]}
    wd = create_workdir(tmp_path_factory.mktemp(f"e2e_shards{shards}"), VIDEOS,
                        features=features, overrides={"batching": {"shards": shards}})
    proc = run_snakemake(wd, *RUN)
    assert proc.returncode == 0, run_output(proc)
    return wd, proc


@pytest.fixture(scope="module")
def run_shards0(tmp_path_factory):
    return completed_run(tmp_path_factory, 0)


@pytest.fixture(scope="module")
def run_shards2(tmp_path_factory):
    return completed_run(tmp_path_factory, 2)


def dry_run(wd, *args, configfile=None):
    proc = run_snakemake(wd, "-n", *args, configfile=configfile)
    assert proc.returncode == 0, run_output(proc)
    return proc.stdout


@pytest.mark.parametrize("which", ["run_shards0", "run_shards2"])
def test_end_to_end_results(request, which):
    from steploc.intermediate import read_hierarchy

    wd, proc = request.getfixturevalue(which)
    results = wd.path / "results"
    table = pd.read_parquet(results / "video_table.parquet")
    assert list(table.columns) == TABLE_COLUMNS
    assert sorted(table["video_id"]) == sorted(VIDEOS)
    assert set(table["status"]) == {"ok"}
    table = table.set_index("video_id")
    shards = ({"1_8": "shard0", "1_7": "shard1", "1_70": "shard1", "2_3": "shard1"}
              if which == "run_shards2" else {v: v for v in VIDEOS})
    for vid in VIDEOS:
        rec = TINY_RECORDINGS[vid]
        assert table.at[vid, "n_features"] == rec.n_features
        assert table.at[vid, "n_clusters"] == TINY_K["task_graph_steps"][rec.activity_id]
        assert table.at[vid, "duration_s"] == pytest.approx(rec.duration_s)
        assert table.at[vid, "feature_period_s"] == 1.0
        assert table.at[vid, "shard"] == shards[vid]
        base = results / "hierarchy" / "raw" / shards[vid]
        nodes = read_hierarchy(f"{base}.nodes.parquet", f"{base}.videos.parquet")[vid]
        assert nodes.features.shape == (math.ceil(rec.n_features / 4), 16)
        assert nodes.status == "ok" and nodes.n_features == rec.n_features
        segments = results / "segments" / "raw" / "fast" / f"{shards[vid]}.segments.parquet"
        assert vid in set(pd.read_parquet(segments)["video_id"])
    videos, _ = check_segments_cover_videos(wd.path, "raw", "fast", DEPTH, VIDEOS)
    assert len(videos) == len(VIDEOS)
    for vid in VIDEOS:
        assert videos.at[vid, "n_clusters"] == table.at[vid, "n_clusters"]
    assert temp_leftovers(results) == []
    logs = wd.path / "logs"
    expected_logs = sorted(f"{s}.log" for s in set(shards.values()))
    assert sorted(p.name for p in (logs / "hierarchy" / "raw").iterdir()) == expected_logs
    assert sorted(p.name for p in (logs / "segment" / "raw" / "fast").iterdir()) == expected_logs


def test_sharding_does_not_change_results(run_shards0, run_shards2):
    for name in ["segments", "step_embeddings", "videos"]:
        a = pd.read_parquet(run_shards0[0].path / f"results/summary/raw/fast/{name}.parquet")
        b = pd.read_parquet(run_shards2[0].path / f"results/summary/raw/fast/{name}.parquet")
        sort = ["video_id"] + (["segment_idx"] if "segment_idx" in a else [])
        pd.testing.assert_frame_equal(a.sort_values(sort, ignore_index=True),
                                      b.sort_values(sort, ignore_index=True))


@pytest.mark.parametrize("which", ["run_shards0", "run_shards2"])
def test_nothing_to_do_after_a_full_run(request, which):
    wd, _ = request.getfixturevalue(which)
    assert plan(dry_run(wd)) == {}


# ------------------------------------------------------------------ incremental reruns
#
# Exact job counts are asserted for the per-video stages and the summaries; stages that only
# aggregate downstream of the summaries (evaluate, ..., all) may follow them.

PER_VIDEO_AND_SUMMARY = ("hierarchy", "segment", "summarize")


def core(stats: dict[str, int]) -> dict[str, int]:
    return {r: n for r, n in stats.items() if r in PER_VIDEO_AND_SUMMARY}


def test_changed_temperature_reruns_only_clustering(run_shards0):
    wd, _ = run_shards0
    cfg = wd.variant("temperature", clustering={"fast": {"temperature": 0.2}})
    out = dry_run(wd, configfile=cfg)
    assert core(plan(out)) == {"segment": len(VIDEOS), "summarize": 1}
    for rule, wildcards in planned_jobs(out):
        assert wildcards.get("setting", "fast") == "fast", (rule, wildcards)


def test_changed_smoothing_reruns_only_clustering(run_shards0):
    wd, _ = run_shards0
    cfg = wd.variant("smoothing", clustering={"fast": {"smoothing": "median"}})
    assert core(plan(dry_run(wd, configfile=cfg))) == {"segment": len(VIDEOS), "summarize": 1}


def test_changed_k_strategy_reruns_only_videos_whose_k_changed(run_shards0):
    # task_graph_steps -> recording_steps (hand-counted in conftest.TINY_RECORDINGS):
    # 1_7 3 -> 3, 1_8 3 -> 3, 1_70 3 -> 3, 2_3 4 -> 3: only 2_3 is clustered again.
    wd, _ = run_shards0
    cfg = wd.variant("kstrategy", params={"k_strategy": "recording_steps"})
    out = dry_run(wd, configfile=cfg)
    assert core(plan(out)) == {"segment": 1, "summarize": 1}
    assert [w["shard"] for r, w in planned_jobs(out) if r == "segment"] == ["2_3"]


def test_new_clustering_setting_runs_only_its_jobs(run_shards0):
    wd, _ = run_shards0
    cfg = wd.variant("newsetting", clustering={"other": {"method": "spectral", "temperature": 0.1}})
    out = dry_run(wd, configfile=cfg)
    assert core(plan(out)) == {"segment": len(VIDEOS), "summarize": 1}
    for rule, wildcards in planned_jobs(out):
        assert wildcards.get("setting", "other") == "other", (rule, wildcards)


def test_touched_video_table_does_not_rerun_hierarchy(run_shards0):
    wd, _ = run_shards0
    table = wd.path / "results" / "video_table.parquet"
    before = table.stat()
    try:
        os.utime(table, (before.st_atime + 60, before.st_mtime + 60))
        stats = core(plan(dry_run(wd)))
        assert set(stats) <= {"summarize"}, stats
    finally:
        os.utime(table, ns=(before.st_atime_ns, before.st_mtime_ns))


def test_rewritten_video_table_does_not_rerun_hierarchy(run_shards0):
    """A table rewritten with the same content (e.g. restored from a backup) reruns only what
    reads it as a whole, never the per-shard stages."""
    wd, _ = run_shards0
    table = wd.path / "results" / "video_table.parquet"
    before = table.read_bytes()
    table.unlink()
    table.write_bytes(before)
    stats = core(plan(dry_run(wd)))
    assert set(stats) <= {"summarize"}, stats


def test_added_video_runs_only_its_jobs(run_shards0):
    wd, _ = run_shards0
    cfg = wd.variant("added", videos={"recording_ids": VIDEOS + [ADDED]})
    out = dry_run(wd, configfile=cfg)
    assert core(plan(out)) == {"hierarchy": 1, "segment": 1, "summarize": 1}
    for rule, wildcards in planned_jobs(out):
        if rule in ("hierarchy", "segment"):
            assert wildcards["shard"] == ADDED, (rule, wildcards)


def test_release_npz_features_are_accepted(tmp_path):
    """CaptainCook4D's release layout: ``<id>_360p.mp4_1s_1s.npz`` saved with ``np.savez``
    (key ``arr_0``), SYNTHETIC contents. Parsing the workflow (video table at parse time) must
    succeed and plan one hierarchy job per video."""
    from conftest import synthetic_block_features

    videos = ["1_7", "1_70"]
    wd = create_workdir(tmp_path, videos, features={},
                        overrides={"features": {"pattern": "{video_id}_360p.mp4_1s_1s.npz"}})
    for vid in videos:
        np.savez(wd.features_dir / f"{vid}_360p.mp4_1s_1s.npz",
                 synthetic_block_features(TINY_RECORDINGS[vid].n_features))
    stats = plan(dry_run(wd))
    assert stats["hierarchy"] == 2
