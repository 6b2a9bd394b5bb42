"""Run the workflow under test through profiles/slurm on a throwaway local SLURM cluster.

Needs root and the SLURM/munge Debian packages (.ci/install_slurm.sh); skipped otherwise.
Run:  .venv/bin/pytest -m integration tests/integration -v
"""

from __future__ import annotations

import math
import re
import shutil
from collections import defaultdict

import pytest

from .conftest import slurm_profile_dir
from .snakemake_runner import (
    PROFILES,
    SnakemakeRun,
    WorkflowSpec,
    collect_outputs,
    diff_outputs,
    load_profile,
    make_test_profile,
    merged,
    prepare_workdir,
    read_env_records,
    run_snakemake,
)

pytestmark = pytest.mark.integration
pytest.importorskip("snakemake_executor_plugin_slurm", reason="snakemake-executor-plugin-slurm not installed")

GPU_REQUEST = re.compile(r"--gpus[= ](?:[\w.]+:)?(\d+)|--gres[= ]'?gpu(?::[\w.]+)?:(\d+)")


def slurm_overrides(spec: WorkflowSpec, cluster) -> dict:
    """Test overrides deep-merged into a copy of the profile (mappings are merged, not replaced)."""
    over = {"default-resources": {"slurm_partition": cluster.partition}}
    if spec.group_components:
        over["group-components"] = dict(spec.group_components)
    return merged(over, spec.profile_overrides)


def slurm_cli_args(cluster) -> list[str]:
    """Scalar test overrides, on the command line (which beats the profile)."""
    return [
        # no accounting (slurmdbd) on the test cluster: sacct cannot answer (slurm_local.md §2)
        "--slurm-status-command", "squeue",
        "--slurm-init-seconds-before-status-checks", "2",
        "--slurm-no-account",
        "--slurm-keep-successful-logs",
        "--latency-wait", "5",
        # a group job may not ask for more CPUs than the node has (it would pend forever)
        "--cores", str(cluster.cpus),
    ]


def rules_of_call(call: str) -> set[str]:
    """Rules a (group) job's sbatch call runs, from the wrapped command's --target-jobs."""
    m = re.search(r"--target-jobs ((?:'[^']*' ?)+)", call)
    return {t.strip("'").split(":", 1)[0] for t in m.group(1).split()} if m else set()


def gpus_requested(call: str) -> int:
    return sum(int(a or b) for a, b in GPU_REQUEST.findall(call.split("--wrap=")[0]))


@pytest.fixture(scope="module")
def test_profile(slurm_session, workflow_spec, tmp_path_factory):
    return make_test_profile(
        slurm_profile_dir(), tmp_path_factory.mktemp("profile") / "slurm", slurm_overrides(workflow_spec, slurm_session)
    )


@pytest.fixture(scope="module")
def slurm_run(slurm_session, workflow_spec, test_profile, tmp_path_factory) -> SnakemakeRun:
    spec = workflow_spec
    workdir = prepare_workdir(spec, tmp_path_factory.mktemp(f"{spec.name}-slurm"))
    run = run_snakemake(
        workdir,
        test_profile,
        slurm_cli_args(slurm_session),
        targets=spec.targets,
        snakefile=spec.snakefile,
        config=spec.config,
        env=slurm_session.env,
        cluster=slurm_session,
    )
    run.job_states = slurm_session.job_states()  # before any later test cancels/adds jobs
    yield run
    slurm_session.cancel_all()


@pytest.fixture(scope="module")
def local_run(workflow_spec, tmp_path_factory) -> SnakemakeRun:
    spec = workflow_spec
    workdir = prepare_workdir(spec, tmp_path_factory.mktemp(f"{spec.name}-local"))
    return run_snakemake(
        workdir,
        PROFILES / "local",
        ["--cores", "2"],
        targets=spec.targets,
        snakefile=spec.snakefile,
        config=spec.config,
    )


def test_run_succeeds_with_expected_number_of_slurm_jobs(slurm_run, workflow_spec, test_profile):
    assert not slurm_run.stuck_jobs, "SLURM jobs that can never start:\n" + slurm_run.describe()
    assert slurm_run.returncode == 0, slurm_run.describe()
    profile = load_profile(test_profile)
    expected = workflow_spec.expected_slurm_jobs(profile.get("groups", {}), profile.get("group-components", {}))
    assert len(slurm_run.slurm_job_ids) == expected, slurm_run.describe()
    assert len(slurm_run.sbatch_calls) == expected
    # every submitted job finished COMPLETED in SLURM
    states = {j: slurm_run.job_states.get(j) for j in slurm_run.slurm_job_ids}
    assert set(states.values()) == {"COMPLETED"}, states


def test_every_cluster_job_ran_inside_a_slurm_job(slurm_run, workflow_spec):
    if not workflow_spec.env_globs:
        pytest.skip("workflow records no job environment")
    submitted = set(slurm_run.slurm_job_ids)
    for rule, pattern in workflow_spec.env_globs.items():
        records = read_env_records(slurm_run.workdir, pattern)
        assert len(records) == workflow_spec.n_items, (rule, sorted(records))
        for path, env in records.items():
            assert env.get("SLURM_JOB_ID") in submitted, (path, env, submitted)
    # and the local rules stayed local: their jobs were never submitted
    called_rules = set().union(*(rules_of_call(c) for c in slurm_run.sbatch_calls))
    assert called_rules == set(workflow_spec.cluster_rules), called_rules


def test_gpu_jobs_share_one_gpu_allocation(slurm_run, workflow_spec, test_profile):
    calls = slurm_run.sbatch_calls
    assert calls, slurm_run.describe()
    for call in calls:
        rules = rules_of_call(call)
        wanted = 1 if rules & set(workflow_spec.gpu_rules) else 0
        # a group of N GPU jobs must ask for ONE GPU, never --gpus=N (pending forever)
        assert gpus_requested(call) == wanted, (sorted(rules), call[:400])
    if not workflow_spec.env_globs:
        return
    for rule, pattern in workflow_spec.env_globs.items():
        records = read_env_records(slurm_run.workdir, pattern)
        by_job = defaultdict(list)
        for path, env in records.items():
            by_job[env["SLURM_JOB_ID"]].append(path)
            if rule in workflow_spec.gpu_rules:
                # SLURM set the device for the job step (one fake GPU -> "0")
                assert env.get("CUDA_VISIBLE_DEVICES") == "0", (path, env)
            else:
                assert env.get("CUDA_VISIBLE_DEVICES") == "<unset>", (path, env)
        if rule in workflow_spec.gpu_rules:
            # group members ran inside the same SLURM job, i.e. the same GPU allocation
            profile = load_profile(test_profile)
            group = profile.get("groups", {}).get(rule)
            per_job = profile.get("group-components", {}).get(group, 1) if group else 1
            assert len(by_job) == math.ceil(len(records) / per_job), dict(by_job)


def test_outputs_identical_to_local_run(slurm_run, local_run, workflow_spec):
    assert local_run.returncode == 0, local_run.describe()
    assert slurm_run.returncode == 0, slurm_run.describe()
    on_slurm = collect_outputs(slurm_run.workdir, workflow_spec.compare_globs)
    local = collect_outputs(local_run.workdir, workflow_spec.compare_globs)
    assert local, "the local run produced none of the compared outputs"
    assert diff_outputs(on_slurm, local) == []
    # the local run did not go through SLURM
    assert not local_run.slurm_job_ids
    for pattern in workflow_spec.env_globs.values():
        for path, env in read_env_records(local_run.workdir, pattern).items():
            assert env.get("SLURM_JOB_ID") == "<unset>", (path, env)


def test_failing_job_is_reported_and_run_fails(slurm, slurm_run, workflow_spec, test_profile, tmp_path):
    spec = workflow_spec
    if spec.fail_config is None and spec.fail_setup is None:
        pytest.skip("no failure config for this workflow")
    assert slurm_run.returncode == 0, slurm_run.describe()
    # Start from the finished run: only the jobs that the failure config (or the broken input)
    # concerns rerun.
    workdir = tmp_path / "failing"
    shutil.copytree(slurm_run.workdir, workdir, symlinks=True)
    if spec.fail_setup is not None:
        spec.fail_setup(workdir)
    run = run_snakemake(
        workdir,
        test_profile,
        # one retry (the profile's retries are for transient failures): 2 attempts, both failing
        slurm_cli_args(slurm) + ["--retries", "1"],
        targets=spec.targets,
        snakefile=spec.snakefile,
        config={**spec.config, **(spec.fail_config or {})},
        env=slurm.env,
        cluster=slurm,
    )
    assert not run.stuck_jobs, run.describe()
    assert run.returncode != 0, run.describe()
    assert f"Error in rule {spec.fail_rule}" in run.log, run.describe()
    states = slurm.job_states()
    submitted = run.slurm_job_ids
    failed = [j for j in submitted if states.get(j) == "FAILED"]
    # the failing job was attempted 1 + retries times, each attempt a FAILED SLURM job ...
    fail_calls = [c for c in run.sbatch_calls if spec.fail_rule in rules_of_call(c)]
    assert len(fail_calls) == 2, run.describe()
    assert "--attempt 2" in fail_calls[1]
    assert len(failed) == 2, (submitted, states)
    # ... and Snakemake reported each one as an error, pointing at its SLURM log
    for job in failed:
        assert re.search(rf"log: \S*/{job}\.log \(check log file", run.log), run.describe()
