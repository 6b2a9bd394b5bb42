"""The cluster harness itself: it comes up with a schedulable fake GPU and always goes away."""

from __future__ import annotations

import os
import time

import pytest

from .slurm_cluster import SlurmCluster, cluster_pids, missing_requirements, slurm_cluster

pytestmark = pytest.mark.integration


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def _wait_state(cluster: SlurmCluster, job: str, states: set[str], timeout: float = 20) -> str:
    deadline = time.monotonic() + timeout
    state = ""
    while time.monotonic() < deadline:
        state = cluster.job_states().get(job, "")
        if state in states:
            return state
        time.sleep(0.2)
    raise AssertionError(f"job {job} in state {state!r}, wanted {states}")


def test_gpu_job_sees_the_fake_gpu(slurm):
    out = slurm.base / "gpujob.out"
    job = slurm.run(
        "sbatch", "--parsable", "--gpus=1", "-o", str(out), "--wrap", "echo CUDA=$CUDA_VISIBLE_DEVICES"
    ).stdout.strip()
    assert _wait_state(slurm, job, {"COMPLETED", "FAILED", "CANCELLED"}) == "COMPLETED"
    assert out.read_text().strip() == "CUDA=0"


def test_cluster_is_stopped_even_when_the_body_raises():
    if missing_requirements():
        pytest.skip("local SLURM cluster unavailable: " + "; ".join(missing_requirements()))
    with pytest.raises(RuntimeError, match="boom"):
        with slurm_cluster() as cluster:
            pids = dict(cluster.pids)
            base, conf = cluster.base, cluster.conf
            # a running GPU job and a queued one, both must go
            running = cluster.run("sbatch", "--parsable", "--gpus=1", "-o", "/dev/null", "--wrap", "sleep 300").stdout.strip()
            cluster.run("sbatch", "--parsable", "--gpus=1", "-o", "/dev/null", "--wrap", "sleep 300")
            _wait_state(cluster, running, {"RUNNING"})
            assert len(cluster_pids(conf, base)) > len(pids)  # slurmstepd, sleep, ...
            raise RuntimeError("boom")
    assert set(pids) == {"munged", "slurmctld", "slurmd"}
    assert not [name for name, pid in pids.items() if _alive(pid)]
    assert cluster_pids(conf, base) == []
    assert cluster.leftover_pids == []
    assert not base.exists()
    assert os.environ.get("SLURM_CONF") != str(conf)
