"""Helpers of the Snakemake workflow tests: planned jobs of a dry run, result checks."""

from __future__ import annotations

import math
import re
from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd

_RULE_LINE = re.compile(r"^(?:local)?rule (\w+):\s*$", re.M)


def planned_jobs(stdout: str) -> list[tuple[str, dict[str, str]]]:
    """``(rule, wildcards)`` of every job block printed by ``snakemake -n``."""
    jobs = []
    starts = [m.start() for m in _RULE_LINE.finditer(stdout)] + [len(stdout)]
    for begin, end in zip(starts, starts[1:]):
        block = stdout[begin:end]
        rule = _RULE_LINE.match(block).group(1)
        wildcards = {}
        m = re.search(r"^\s+wildcards: (.*)$", block, re.M)
        if m:
            wildcards = dict(kv.split("=", 1) for kv in m.group(1).split(", "))
        jobs.append((rule, wildcards))
    return jobs


def job_stats(stdout: str) -> dict[str, int]:
    """The first "Job stats" table of a dry run (``{}`` when nothing is to be done)."""
    m = re.search(r"^Job stats:\n(.*?)\n\n", stdout + "\n\n", re.M | re.S)
    if not m:
        assert "Nothing to be done" in stdout, stdout
        return {}
    stats = {}
    for line in m.group(1).splitlines()[2:]:
        name, count = line.split()
        if name != "total":
            stats[name] = int(count)
    return stats


def plan(stdout: str) -> dict[str, int]:
    """Job counts per rule, checked against the job blocks."""
    stats = job_stats(stdout)
    assert Counter(rule for rule, _ in planned_jobs(stdout)) == Counter(stats), stdout
    return stats


def temp_leftovers(root: Path) -> list[Path]:
    """Temporary files of atomic writes (``.<name>.<random>.tmp``) left under ``root``."""
    if not root.exists():
        return []
    return [p for p in root.rglob("*") if p.name.endswith(".tmp") or p.name.startswith(".")]


def check_segments_cover_videos(workdir: Path, model: str, setting: str, depth: int,
                                expected_ok: list[str]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Per-video checks of one summary: contiguous, ordered segments from 0 to the video's end
    (within one node), one videos.parquet row per video-table row."""
    params = pd.read_parquet(workdir / "results" / "video_table.parquet").set_index("video_id")
    summary = workdir / "results" / "summary" / model / setting
    videos = pd.read_parquet(summary / "videos.parquet")
    segments = pd.read_parquet(summary / "segments.parquet")
    embeddings = pd.read_parquet(summary / "step_embeddings.parquet")

    assert videos["video_id"].is_unique
    assert sorted(videos["video_id"]) == sorted(params.index)
    ok = videos.loc[videos["status"] == "ok", "video_id"].tolist()
    assert sorted(ok) == sorted(expected_ok)
    assert set(segments["video_id"]) == set(ok)
    videos = videos.set_index("video_id")
    for vid in ok:
        row = params.loc[vid]
        t, period = int(row["n_features"]), float(row["feature_period_s"])
        video_end = t * period
        if not math.isnan(row["duration_s"]):
            video_end = min(video_end, float(row["duration_s"]))
        node_s = 2**depth * period
        seg = segments[segments["video_id"] == vid]
        idx = seg["segment_idx"].to_numpy()
        np.testing.assert_array_equal(idx, np.arange(len(seg)))  # ordered, 0-based
        start, end = seg["start_s"].to_numpy(), seg["end_s"].to_numpy()
        assert start[0] == 0.0, vid
        np.testing.assert_allclose(start[1:], end[:-1], err_msg=vid)  # contiguous
        assert (end > start).all(), vid
        assert end[-1] <= video_end + 1e-9 and video_end - end[-1] < node_s, (vid, end[-1])
        assert (np.diff(seg["cluster"].to_numpy()) != 0).all(), vid  # runs are maximal
        assert videos.at[vid, "n_segments"] == len(seg)
        assert videos.at[vid, "n_nodes"] == math.ceil(t / 2**depth)
        assert videos.at[vid, "n_features"] == t
        emb = embeddings[embeddings["video_id"] == vid]
        np.testing.assert_array_equal(emb["segment_idx"].to_numpy(), idx)
        assert {len(e) for e in emb["embedding"]} == {int(row["feature_dim"])}
    return videos, segments
