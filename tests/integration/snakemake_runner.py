"""Helpers to run a workflow through Snakemake (locally or via the SLURM profile) in tests.

* ``WorkflowSpec`` describes the workflow under test (the toy workflow now, the real pipeline's
  demo config later: see ``conftest.WORKFLOW``).
* ``prepare_workdir`` copies it into a fresh working directory.
* ``make_test_profile`` writes a copy of a profile with test overrides deep-merged into it
  (a mapping given on the command line would replace the profile's whole mapping).
* ``run_snakemake`` runs ``python -m snakemake`` under ``timeout -k`` (Snakemake treats SIGTERM
  as "finish running jobs first" and can hang on a broken status query), optionally watching the
  SLURM queue and aborting early when a job can never start (e.g. ``--gpus=3`` on a 1-GPU node).
"""

from __future__ import annotations

import copy
import math
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from steploc.config import deep_update

REPO = Path(__file__).resolve().parents[2]
PROFILES = REPO / "profiles"

# squeue reasons for a PENDING job that will never start on this cluster
NEVER_STARTS = {
    "PartitionConfig",
    "BadConstraints",
    "PartitionNodeLimit",
    "PartitionTimeLimit",
    "ReqNodeNotAvail",
    "InvalidQOS",
    "InvalidAccount",
}


@dataclass(frozen=True)
class WorkflowSpec:
    """What the SLURM tests run.  Paths are relative to ``source_dir`` / the working directory."""

    name: str
    source_dir: Path
    # what to copy into the fresh working directory (relative to source_dir)
    copy: tuple[str, ...] = (".",)
    snakefile: str = "Snakefile"
    targets: tuple[str, ...] = ()
    config: Mapping[str, object] = field(default_factory=dict)
    # outputs compared byte for byte between the SLURM run and the local run
    compare_globs: tuple[str, ...] = ("results/**/*.txt",)
    # rules that must run as SLURM jobs, and those of them that need a GPU
    cluster_rules: tuple[str, ...] = ("hierarchy", "segment")
    gpu_rules: tuple[str, ...] = ("hierarchy",)
    # number of per-item jobs of each cluster rule (for the expected number of SLURM jobs)
    n_items: int = 4
    # test overrides of the profile's group components {group: components}
    group_components: Mapping[str, int] = field(default_factory=dict)
    # {rule: glob} of files in which jobs recorded "CUDA_VISIBLE_DEVICES=..." and
    # "SLURM_JOB_ID=..." (toy workflow only; None/empty for the real pipeline)
    env_globs: Mapping[str, str] = field(default_factory=dict)
    # config that makes exactly one cluster job fail (None: the failure test is skipped);
    # fail_rule is the rule of that job
    fail_config: Mapping[str, object] | None = None
    fail_rule: str = "segment"
    # extra profile overrides for SLURM runs (deep-merged), e.g. set-resources for a small node
    profile_overrides: Mapping[str, object] = field(default_factory=dict)
    # run in a freshly copied working directory (e.g. to write input data)
    setup: Callable[[Path], None] | None = None
    # alternative to fail_config: break a finished working directory so that exactly one
    # cluster job of fail_rule fails when the workflow is run again
    fail_setup: Callable[[Path], None] | None = None

    def expected_slurm_jobs(self, groups: Mapping[str, str], components: Mapping[str, int]) -> int:
        """SLURM jobs for a full run: one per group job (ceil(items/components)), one per job of
        an ungrouped cluster rule."""
        total = 0
        for rule in self.cluster_rules:
            group = groups.get(rule)
            per_job = components.get(group, 1) if group else 1
            total += math.ceil(self.n_items / per_job)
        return total


def prepare_workdir(spec: WorkflowSpec, dest: Path) -> Path:
    dest.mkdir(parents=True, exist_ok=True)
    for rel in spec.copy:
        src = (spec.source_dir / rel).resolve()
        if src.is_dir():
            shutil.copytree(
                src,
                dest / rel,
                dirs_exist_ok=True,
                ignore=shutil.ignore_patterns(".snakemake", "results", "__pycache__", ".venv", ".git"),
            )
        else:
            (dest / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / rel)
    if spec.setup is not None:
        spec.setup(dest)
    return dest


def merged(base: dict, over: Mapping) -> dict:
    """A deep-merged copy (the package's config deep merge, as Snakemake merges configs)."""
    return deep_update(copy.deepcopy(base), dict(over))


def load_profile(profile_dir: Path) -> dict:
    for name in ("config.yaml", "profile.yaml"):
        if (profile_dir / name).is_file():
            return yaml.safe_load((profile_dir / name).read_text()) or {}
    raise FileNotFoundError(f"no config.yaml/profile.yaml in {profile_dir}")


def make_test_profile(profile_dir: Path, dest: Path, overrides: Mapping[str, object]) -> Path:
    """Copy of ``profile_dir`` with ``overrides`` deep-merged into its config.yaml."""
    profile = merged(load_profile(profile_dir), overrides)
    dest.mkdir(parents=True, exist_ok=True)
    (dest / "config.yaml").write_text(yaml.safe_dump(profile, sort_keys=False))
    return dest


@dataclass
class SnakemakeRun:
    returncode: int
    log: str
    seconds: float
    workdir: Path
    stuck_jobs: dict[str, str] = field(default_factory=dict)  # SLURM id -> scontrol show job
    job_states: dict[str, str] = field(default_factory=dict)  # filled in by callers (squeue)

    @property
    def slurm_job_ids(self) -> list[str]:
        """SLURM job ids of all submissions, in order (a retried job appears again)."""
        return re.findall(r"has been submitted with SLURM jobid (\d+)", self.log)

    @property
    def sbatch_calls(self) -> list[str]:
        """The sbatch command lines (logged with --verbose)."""
        return [m.group(1) for m in re.finditer(r"^sbatch call: (.*)$", self.log, re.M)]

    def describe(self, tail: int = 60) -> str:
        lines = self.log.splitlines()
        stuck = "".join(f"\n--- stuck SLURM job {j} ---\n{info}" for j, info in self.stuck_jobs.items())
        return (
            f"snakemake exited {self.returncode} after {self.seconds:.1f} s in {self.workdir}{stuck}\n"
            f"--- last {tail} log lines ---\n" + "\n".join(lines[-tail:])
        )


def _pending_forever(cluster, seen: dict[str, float], grace_s: float) -> dict[str, str]:
    res = cluster.run("squeue", "--noheader", "--format=%i|%T|%r", check=False, timeout=10)
    now = time.monotonic()
    stuck = {}
    for line in res.stdout.split():
        job, state, reason = (line.split("|") + ["", ""])[:3]
        if state == "PENDING" and reason in NEVER_STARTS:
            first = seen.setdefault(job, now)
            if now - first >= grace_s:
                stuck[job] = cluster.job_info(job)
    return stuck


def run_snakemake(
    workdir: Path,
    profile: Path | None,
    extra_args: Sequence[str] = (),
    *,
    targets: Iterable[str] = (),
    snakefile: str | None = None,
    config: Mapping[str, object] | None = None,
    env: Mapping[str, str] | None = None,
    timeout: float = 240,
    cluster=None,
    stuck_grace_s: float = 6,
    verbose: bool = True,
    workflow_profile: str | None = None,
) -> SnakemakeRun:
    """Run Snakemake in ``workdir`` with ``--profile profile`` (None: no profile), bounded by
    ``timeout -k 10``.  ``workflow_profile`` None leaves Snakemake's own lookup (profiles/default/
    next to the Snakefile or in the workdir is loaded, as in production); "none" disables it.
    With ``cluster``, the SLURM queue is watched and the run is killed as soon as a job has been
    PENDING for a reason that can never resolve (see NEVER_STARTS)."""
    cmd = ["timeout", "-k", "10", str(int(timeout)), sys.executable, "-m", "snakemake", *targets]
    if snakefile:
        cmd += ["--snakefile", snakefile]
    if profile is not None:
        cmd += ["--profile", str(profile)]
    if workflow_profile is not None:
        cmd += ["--workflow-profile", workflow_profile]
    if config:
        cmd += ["--config", *(f"{k}={v}" for k, v in config.items())]
    if verbose:
        cmd.append("--verbose")
    cmd += list(extra_args)
    logfile = workdir / "snakemake.out"
    stuck: dict[str, str] = {}
    start = time.monotonic()
    with open(logfile, "wb") as out:
        out.write(("$ " + " ".join(cmd) + "\n").encode())
        out.flush()
        proc = subprocess.Popen(
            cmd,
            cwd=workdir,
            env=dict(env if env is not None else os.environ),
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: killable as a whole
        )
        seen: dict[str, float] = {}
        try:
            while proc.poll() is None:
                time.sleep(1)
                if cluster is not None:
                    stuck = _pending_forever(cluster, seen, stuck_grace_s)
                    if stuck:
                        os.killpg(proc.pid, signal.SIGKILL)
                        proc.wait(timeout=30)
                        ids = ",".join(stuck)
                        cluster.run("scancel", ids, check=False)
                        break
        finally:
            if proc.poll() is None:  # interrupted test: never leave snakemake behind
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=30)
    return SnakemakeRun(
        returncode=proc.returncode,
        log=logfile.read_text(errors="replace"),
        seconds=time.monotonic() - start,
        workdir=workdir,
        stuck_jobs=stuck,
    )


ENV_RECORD = re.compile(r"\b(CUDA_VISIBLE_DEVICES|SLURM_JOB_ID)=(\S+)")


def read_env_records(workdir: Path, pattern: str) -> dict[str, dict[str, str]]:
    """{relative path: {"CUDA_VISIBLE_DEVICES": ..., "SLURM_JOB_ID": ...}} from the
    ``VAR=value`` records that jobs write (``<unset>`` when unset): a line of their own in the
    toy workflow's .env files, the "job environment" line of steploc's job logs."""
    records = {}
    for path in sorted(workdir.glob(pattern)):
        records[str(path.relative_to(workdir))] = dict(ENV_RECORD.findall(path.read_text()))
    return records


def collect_outputs(workdir: Path, globs: Iterable[str]) -> dict[str, bytes]:
    files = {}
    for pattern in globs:
        for path in workdir.glob(pattern):
            if path.is_file():
                files[str(path.relative_to(workdir))] = path.read_bytes()
    return files


def diff_outputs(a: Mapping[str, bytes], b: Mapping[str, bytes]) -> list[str]:
    problems = [f"only in first: {p}" for p in sorted(set(a) - set(b))]
    problems += [f"only in second: {p}" for p in sorted(set(b) - set(a))]
    problems += [f"differs: {p}" for p in sorted(set(a) & set(b)) if a[p] != b[p]]
    return problems

