"""The wiring of the workflow: one rule per stage whatever the batching (so profile keys apply),
GPU claims only for jobs that use a GPU, and one video table that job re-parses never rebuild.

Tiny hand-made annotations and SYNTHETIC block features (conftest).
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from datetime import datetime

import pytest

from conftest import SNAKEFILE, TINY_RECORDINGS, create_workdir, run_output, run_snakemake
from steploc.batching import shard_of

from .workflow_helpers import planned_jobs

pytestmark = pytest.mark.slow

VIDEOS = ["1_7", "1_8", "1_70", "2_3", "2_30"]


def job_blocks(stdout: str, rule: str) -> list[str]:
    blocks = re.split(r"\n(?=\[|rule |localrule )", stdout)
    return [b for b in blocks if re.match(rf"(local)?rule {rule}:", b.strip())]


@pytest.mark.parametrize("shards", [0, 4])
def test_profile_resources_reach_every_hierarchy_job(tmp_path, shards):
    """`--set-resources hierarchy:mem_mb=16000` (what the SLURM profile edits) used to be
    ignored with shards, whose rules were named hierarchy_shard0, ..."""
    wd = create_workdir(tmp_path, VIDEOS, overrides={"batching": {"shards": shards}})
    proc = run_snakemake(wd, "-n", "--cores", "2", "--set-resources", "hierarchy:mem_mb=16000",
                         "--set-threads", "segment=2")
    assert proc.returncode == 0, run_output(proc)
    hierarchy = job_blocks(proc.stdout, "hierarchy")
    expected = len(VIDEOS) if shards == 0 else len({shard_of(v, shards) for v in VIDEOS})
    assert len(hierarchy) == expected, proc.stdout
    for block in hierarchy:
        assert re.search(r"\bmem_mb=16000\b", block), block
    segment = job_blocks(proc.stdout, "segment")
    assert segment and all(re.search(r"threads: 2\b", b) for b in segment), segment
    assert {rule for rule, _ in planned_jobs(proc.stdout)} >= {"hierarchy", "segment"}


def test_cpu_hierarchy_jobs_claim_no_gpu_and_run_side_by_side(tmp_path):
    """With `device: cpu` the hierarchy jobs claim gpu=0, so `--resources gpu=1` no longer
    serialises them: two of the four shard jobs run at the same time on 2 cores."""
    wd = create_workdir(tmp_path, VIDEOS, overrides={"batching": {"shards": 4}, "device": "cpu",
                                                     "evaluation": {"enabled": False}})
    proc = run_snakemake(wd, "--cores", "2", "--resources", "gpu=1")
    assert proc.returncode == 0, run_output(proc)
    spans = []
    for log in sorted((wd.path / "logs" / "hierarchy" / "raw").glob("*.log")):
        stamps = [datetime.strptime(line[:23], "%Y-%m-%d %H:%M:%S,%f")
                  for line in log.read_text().splitlines() if line[:4].isdigit()]
        spans.append((min(stamps), max(stamps)))
    assert len(spans) >= 3, spans
    overlapping = sum(1 for i, a in enumerate(spans) for b in spans[i + 1:]
                      if a[0] < b[1] and b[0] < a[1])
    assert overlapping >= 1, spans
    dry = run_snakemake(wd, "-n", "-F", "--cores", "2")
    assert all(re.search(r"\bgpu=0\b", b) for b in job_blocks(dry.stdout, "hierarchy")), dry.stdout


def test_cuda_device_claims_one_gpu_per_hierarchy_job(tmp_path):
    wd = create_workdir(tmp_path, ["1_7", "2_3"], overrides={"device": "cuda"})
    proc = run_snakemake(wd, "-n", "--cores", "2")
    assert proc.returncode == 0, run_output(proc)
    blocks = job_blocks(proc.stdout, "hierarchy")
    assert blocks and all(re.search(r"\bgpu=1\b", b) for b in blocks), proc.stdout


def test_a_job_re_parse_opens_no_feature_file(tmp_path):
    """A cluster job re-parses the workflow in remote mode: it reads the video table written by
    the main process and never the feature files (here: they are gone)."""
    wd = create_workdir(tmp_path, ["1_7", "2_3"], overrides={"evaluation": {"enabled": False}})
    proc = run_snakemake(wd, "--cores", "2")
    assert proc.returncode == 0, run_output(proc)
    summary = wd.path / "results" / "summary" / "raw" / "fast" / "videos.parquet"
    before = summary.stat().st_mtime_ns
    shutil.move(wd.features_dir, wd.path / "features_moved_away")
    job = subprocess.run(
        [sys.executable, "-m", "snakemake", "--snakefile", str(SNAKEFILE), "--directory",
         str(wd.path), "--configfile", str(wd.configfile), "--target-jobs",
         "summarize:model=raw,setting=fast", "--mode", "remote", "--cores", "1", "--force",
         "--nolock"], capture_output=True, text=True, timeout=240)
    assert job.returncode == 0, job.stderr
    assert summary.stat().st_mtime_ns > before  # the job really ran
    # The main process, by contrast, builds the table from the feature folder:
    main = run_snakemake(wd, "-n")
    assert main.returncode != 0 and "features directory does not exist" in run_output(main)


def test_video_table_is_built_once_and_rewritten_only_when_it_changes(tmp_path):
    wd = create_workdir(tmp_path, ["1_7", "2_3"])
    assert run_snakemake(wd, "--cores", "2").returncode == 0
    table = wd.path / "results" / "video_table.parquet"
    stamp = table.stat().st_mtime_ns
    assert run_snakemake(wd, "-n").returncode == 0
    assert table.stat().st_mtime_ns == stamp  # same content: not rewritten
    cfg = wd.variant("k6", params={"k_strategy": "fixed", "k_fixed": 6})
    assert run_snakemake(wd, "-n", configfile=cfg).returncode == 0
    assert table.stat().st_mtime_ns > stamp
    import pandas as pd

    assert set(pd.read_parquet(table)["n_clusters"]) == {6}
    assert TINY_RECORDINGS["1_7"].n_features == pd.read_parquet(table).set_index(
        "video_id").at["1_7", "n_features"]
