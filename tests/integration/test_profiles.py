"""Static checks of profiles/slurm and profiles/local (no cluster needed; not marked integration)."""

from __future__ import annotations

import importlib.util

import pytest

from .conftest import TOY_WORKFLOW
from .snakemake_runner import PROFILES, load_profile, prepare_workdir, run_snakemake

CLUSTER_RULES = ("hierarchy", "segment")


@pytest.fixture(scope="module")
def slurm_profile() -> dict:
    return load_profile(PROFILES / "slurm")


@pytest.fixture(scope="module")
def local_profile() -> dict:
    return load_profile(PROFILES / "local")


def test_slurm_profile_submits_with_bounded_jobs_and_retries(slurm_profile):
    assert slurm_profile["executor"] == "slurm"
    assert 0 < int(slurm_profile["jobs"]) <= 1000
    assert int(slurm_profile["latency-wait"]) >= 5
    assert int(slurm_profile["retries"]) >= 1
    defaults = slurm_profile["default-resources"]
    assert int(defaults["mem_mb"]) > 0 and int(defaults["runtime"]) > 0


def test_slurm_profile_gpu_is_one_gpu_per_slurm_job(slurm_profile):
    # the GPU stage asks the plugin for a GPU (-> sbatch --gpus=1) ...
    assert slurm_profile["set-resources"]["hierarchy"]["gpu"] == 1
    # ... and `gpu` is counted per submission, limited to 1: a group of N GPU jobs shares one
    # GPU (--gpus=1) instead of asking for --gpus=N; no cluster-wide (global) GPU limit.
    assert slurm_profile["set-resource-scopes"]["gpu"] == "local"
    assert slurm_profile["resources"]["gpu"] == 1


def test_slurm_profile_groups_the_per_video_rules(slurm_profile):
    groups = slurm_profile["groups"]
    components = slurm_profile["group-components"]
    assert set(CLUSTER_RULES) <= set(groups)
    assert set(groups.values()) == set(components), "every group needs a component count"
    assert all(int(n) >= 1 for n in components.values())
    assert int(slurm_profile["cores"]) >= 1  # CPUs per group job


def test_local_profile_limits_gpu_jobs(local_profile):
    assert "executor" not in local_profile
    assert int(local_profile["cores"]) >= 1
    assert local_profile["resources"]["gpu"] == 1


@pytest.mark.parametrize("profile", ["local", "slurm"])
def test_profile_dry_run_of_toy_workflow(profile, tmp_path):
    if profile == "slurm" and importlib.util.find_spec("snakemake_executor_plugin_slurm") is None:
        pytest.skip("snakemake-executor-plugin-slurm not installed")
    workdir = prepare_workdir(TOY_WORKFLOW, tmp_path / "wf")
    run = run_snakemake(workdir, PROFILES / profile, ["--dry-run"], config={"n_items": 3}, timeout=120)
    assert run.returncode == 0, run.describe()
    assert "hierarchy" in run.log and "segment" in run.log
