"""A segmentation that would not fit in the job's memory is refused before it allocates, naming
the video, N, the memory it would need and the fix (tiny annotations, SYNTHETIC features)."""

from __future__ import annotations

import pytest

from conftest import create_workdir, run_output, run_snakemake

pytestmark = pytest.mark.slow


def test_a_too_large_fit_is_refused_naming_video_n_memory_and_fix(tmp_path):
    wd = create_workdir(
        tmp_path, ["1_7", "2_3"], features={"1_7": 6000, "2_3": 300},
        overrides={"models": {"raw": {"type": "raw", "depth": 0}},
                   "clustering": {"fast": {"reduce_above": None}},
                   "resources": {"segment": {"mem_mb": 700}},
                   "features": {"period_s": None, "period_tolerance": 10.0},
                   "evaluation": {"enabled": False}, "procedure": {"enabled": False}})
    proc = run_snakemake(wd, "--cores", "2")
    assert proc.returncode != 0
    log = (wd.path / "logs" / "segment" / "raw" / "fast" / "1_7.log").read_text()
    assert "video '1_7'" in log and "N=6000" in log and "MiB" in log, run_output(proc)
    assert "Fix:" in log and "depth" in log
    assert "Traceback" not in log
    # the other video's job is not affected
    assert (wd.path / "results" / "segments" / "raw" / "fast" / "2_3.segments.parquet").is_file()
