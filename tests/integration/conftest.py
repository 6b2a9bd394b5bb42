"""Fixtures for the SLURM integration tests.

The workflow under test is ``WORKFLOW`` below: the real pipeline on a reduced demo config
(``STEPLOC_DEMO``). ``TOY_WORKFLOW``, a dependency-free stand-in with the same resource tags,
remains for debugging the cluster harness itself (``STEPLOC_TEST_WORKFLOW=toy``).
Environment knobs:
  STEPLOC_TEST_SLURM_PROFILE  profile directory to test (default: profiles/slurm)
  STEPLOC_KEEP_SLURM_BASE=1   keep the cluster's base directory (configs, daemon logs)
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml

from .slurm_cluster import SlurmUnavailable, missing_requirements, slurm_cluster
from .snakemake_runner import PROFILES, REPO, WorkflowSpec

HERE = Path(__file__).resolve().parent

TOY_WORKFLOW = WorkflowSpec(
    name="toy",
    source_dir=HERE / "toy_workflow",
    config={"n_items": 4},
    n_items=4,
    compare_globs=("results/**/*.txt", "results/**/*.tsv"),
    env_globs={"hierarchy": "results/hierarchy/*.env", "segment": "results/segment/*.env"},
    # 2 GPU group jobs of 2 (so two GPU jobs compete for the single GPU), 1 CPU group job of 4
    group_components={"hier": 2, "seg": 4},
    fail_config={"fail_item": "v0001"},
    fail_rule="segment",
)

DEMO_CHECKPOINT = "data/demo_checkpoints/hiero_egovlp_RANDOM_WEIGHTS.pth"
#: The broken input of the failure test: one video's features get a NaN row.
BROKEN_VIDEO = "8_3"


def _steploc(workdir: Path, *args: str) -> None:
    subprocess.run([sys.executable, "-m", "steploc", *args], cwd=workdir, check=True,
                   capture_output=True, timeout=120)


def setup_demo(workdir: Path) -> None:
    """The demo config reduced to one recording per recipe (3 videos, both models, evaluation
    and report), with its SYNTHETIC features and random-weights checkpoint written into the
    working directory under relative paths (so outputs of two workdirs compare byte for byte)."""
    configfile = workdir / "config" / "config.yaml"
    config = yaml.safe_load(configfile.read_text())
    config["videos"]["max_per_activity"] = 1
    config["features"]["dir"] = "features_synthetic"
    config["evaluation"]["report_videos"] = 1
    config["procedure"] = {"report_map": False}  # local figure jobs: not what these tests are about
    configfile.write_text(yaml.safe_dump(config, sort_keys=False))
    _steploc(workdir, "demo-features", "--configfile", str(configfile))
    _steploc(workdir, "demo-checkpoint", "--out", DEMO_CHECKPOINT)


def break_one_video(workdir: Path) -> None:
    """NaN in one video's features: its hierarchy jobs (both models) fail with an error naming
    the video and the file; nothing else needs to rerun."""
    path = workdir / "features_synthetic" / f"{BROKEN_VIDEO}_synthetic.npy"
    features = np.load(path)
    features[5] = np.nan
    np.save(path, features)


STEPLOC_DEMO = WorkflowSpec(
    name="steploc-demo",
    source_dir=REPO,
    copy=("Snakefile", "workflow", "config", "envs", "profiles/default", "report",
          "data/captaincook4d"),
    setup=setup_demo,
    n_items=6,  # 3 videos x 2 models, per cluster rule (one clustering setting)
    # Parquet tables (the report PNGs carry timestamps).
    compare_globs=("results/**/*.parquet",),
    env_globs={"hierarchy": "logs/hierarchy/*/*.log", "segment": "logs/segment/*/*/*.log"},
    # 3 GPU group jobs of 2 (so GPU jobs share the single GPU in turn), 2 CPU group jobs of 4
    group_components={"hier": 2, "seg": 4},
    fail_setup=break_one_video,
    fail_rule="hierarchy",
)

WORKFLOW = TOY_WORKFLOW if os.environ.get("STEPLOC_TEST_WORKFLOW") == "toy" else STEPLOC_DEMO


def slurm_profile_dir() -> Path:
    return Path(os.environ.get("STEPLOC_TEST_SLURM_PROFILE", PROFILES / "slurm")).resolve()


@pytest.fixture(scope="session")
def workflow_spec() -> WorkflowSpec:
    return WORKFLOW


@pytest.fixture(scope="session")
def slurm_session():
    """One throwaway cluster for the whole session; skipped where it cannot run."""
    problems = missing_requirements()
    if problems:
        pytest.skip("local SLURM cluster unavailable: " + "; ".join(problems))
    try:
        with slurm_cluster() as cluster:
            yield cluster
    except SlurmUnavailable as exc:  # pragma: no cover - raced with missing_requirements
        pytest.skip(f"local SLURM cluster unavailable: {exc}")
    # on leaving the with block the cluster was stopped: nothing of it may survive
    assert not cluster.leftover_pids, f"cluster processes survived the stop: {cluster.leftover_pids}"


@pytest.fixture
def slurm(slurm_session):
    """The session cluster, with all its jobs cancelled after each test."""
    yield slurm_session
    slurm_session.cancel_all()
