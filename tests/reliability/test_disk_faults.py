"""A full disk and a read-only output folder: the run fails, names the output it could not
write and the reason, and leaves no half-written file. Needs permission to mount (root, as in
CI); skipped otherwise.

Tiny hand-made annotations and SYNTHETIC features (conftest).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from conftest import run_output, run_snakemake
from pipeline.workflow_helpers import temp_leftovers

pytestmark = pytest.mark.slow

RUN = ("--cores", "2", "--resources", "gpu=1")


def mount(args: list[str]) -> None:
    proc = subprocess.run(["mount", *args], capture_output=True, text=True)
    if proc.returncode != 0:
        pytest.skip(f"cannot mount ({proc.stderr.strip()}); needs root")


@pytest.fixture
def mounted(tmp_path):
    points: list[Path] = []
    yield points
    for point in reversed(points):
        subprocess.run(["umount", "-l", str(point)], capture_output=True)


def test_full_disk_names_the_output_and_leaves_nothing_half_written(make_workdir, mounted):
    wd = make_workdir(["1_7", "1_70", "2_3"])
    results = wd.path / "results"
    results.mkdir()
    mount(["-t", "tmpfs", "-o", "size=64k", "tmpfs", str(results)])
    mounted.append(results)
    proc = run_snakemake(wd, *RUN)
    assert proc.returncode != 0, run_output(proc)
    logs = "".join(p.read_text() for p in (wd.path / "logs").rglob("*.log"))
    assert "No space left on device" in logs and "cannot write 'results/" in logs, logs
    assert "Traceback" not in logs
    assert temp_leftovers(results) == []
    assert not (results / "summary").exists()


def read_only(folder: Path, mounted: list[Path]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    mount(["--bind", str(folder), str(folder)])
    mounted.append(folder)
    mount(["-o", "remount,bind,ro", str(folder)])


def test_a_job_writing_into_a_read_only_folder_names_the_output(make_workdir, mounted):
    """The job itself (here: summarize, run as its rule runs it) reports the output it could
    not write, and the files already there stay as they were. (Snakemake on its own refuses to
    start a job whose old outputs are read-only, see the next test; into a read-only folder
    that holds none yet, Snakemake 9.27 crashes with its own traceback before the job starts.)"""
    wd = make_workdir(["1_7"])
    proc = run_snakemake(wd, *RUN)
    assert proc.returncode == 0, run_output(proc)
    results = wd.path / "results"
    summary = results / "summary" / "raw" / "fast"
    before = {p.name: p.read_bytes() for p in summary.iterdir()}
    read_only(summary, mounted)
    job = subprocess.run(
        [sys.executable, "-m", "steploc", "summarize", "--video-table",
         "results/video_table.parquet", "--model", "raw", "--setting", "fast",
         "--segments", "results/segments/raw/fast/1_7.segments.parquet",
         "--segment-videos", "results/segments/raw/fast/1_7.videos.parquet",
         "--segments-out", "results/summary/raw/fast/segments.parquet",
         "--embeddings-out", "results/summary/raw/fast/step_embeddings.parquet",
         "--videos-out", "results/summary/raw/fast/videos.parquet"],
        cwd=wd.path, capture_output=True, text=True)
    assert job.returncode == 3, job.stderr
    assert "cannot write 'results/summary/raw/fast/" in job.stderr, job.stderr
    assert "Read-only file system" in job.stderr and "Traceback" not in job.stderr
    assert {p.name: p.read_bytes() for p in summary.iterdir()} == before


def test_read_only_existing_outputs_are_refused_before_any_job(make_workdir, mounted):
    wd = make_workdir(["1_7"])
    proc = run_snakemake(wd, *RUN)  # a first, complete run
    assert proc.returncode == 0, run_output(proc)
    segments = wd.path / "results" / "segments" / "raw" / "fast"
    before = (segments / "1_7.segments.parquet").read_bytes()
    read_only(segments, mounted)
    config = wd.variant("changed", clustering={"fast": {"temperature": 0.1}})
    proc = run_snakemake(wd, *RUN, configfile=config)
    assert proc.returncode != 0, run_output(proc)
    assert "Write-protected output files" in proc.stderr and "1_7.segments" in proc.stderr
    assert (segments / "1_7.segments.parquet").read_bytes() == before  # untouched
