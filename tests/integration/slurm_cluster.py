"""A throwaway single-node SLURM cluster with one fake GPU, for integration tests.

Usage::

    with slurm_cluster() as cluster:          # raises SlurmUnavailable if it cannot run here
        subprocess.run(["sbatch", "--wrap", "hostname"], env=cluster.env)

Everything lives under one temporary base directory (``/tmp/steploc-slurm-XXXX``): slurm.conf,
gres.conf, cgroup.conf, the fake GPU device node(s), the state/spool/log directories, and a
private munge key, socket, pid and log file.  The daemons listen on free unprivileged ports
picked at start-up, so the cluster does not touch ``/etc/slurm``, ``/etc/munge``, ``/run/munge``
or any system daemon, and two clusters can coexist.  Clients find it through ``SLURM_CONF``
(in ``cluster.env``), and the munge socket through ``AuthInfo=socket=...`` in that slurm.conf.

The three daemons (munged, slurmctld, slurmd) run in the foreground as children of this
process, each in its own session, so their PIDs are known without pid files.  Stopping (always
done on leaving the ``with`` block, whatever happened) cancels all jobs, waits (bounded) for
them to go, then stops every process of the daemons' sessions *by PID* (SIGTERM, bounded wait,
SIGKILL), in the order slurmd (and its slurmstepd/job processes), slurmctld, munged, and
finally removes the base directory (unless ``keep=True``).

A throwaway single-node cluster (docs/cluster.md): no accounting (use ``--slurm-status-command squeue``),
``MinJobAge=600`` so finished jobs stay visible to squeue, ``DefMemPerCPU`` so a job without
``--mem`` does not take the whole node, a ``File=`` for the fake GPU, munged run as the munge
user, node topology copied from ``slurmd -C``, ``slurmctld -c`` (no stale state).

Requirements: root, and the Debian packages slurmctld, slurmd, slurm-client, munge
(``.ci/install_slurm.sh``).  ``missing_requirements()`` names what is absent.

Run by hand (e.g. to try the real pipeline against it)::

    .venv/bin/python -m tests.integration.slurm_cluster      # prints the env, Ctrl-C stops it
"""

from __future__ import annotations

import contextlib
import os
import pwd
import secrets
import shutil
import signal
import socket
import stat
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

# /usr/sbin is often missing from PATH in non-login shells and CI runners.
_SEARCH_PATH = os.pathsep.join(
    [os.environ.get("PATH", ""), "/usr/sbin", "/usr/bin", "/sbin", "/usr/local/sbin"]
)
DAEMONS = ("munged", "slurmctld", "slurmd")
CLIENTS = ("munge", "unmunge", "sbatch", "squeue", "sinfo", "scontrol", "scancel", "srun")
PARTITION = "debug"
CLUSTER_NAME = "steploctest"


class SlurmUnavailable(RuntimeError):
    """The cluster cannot run on this machine (missing binaries, not root)."""


class SlurmStartError(RuntimeError):
    """The cluster was startable but did not come up; the message has the log tails."""


def which(name: str) -> str | None:
    return shutil.which(name, path=_SEARCH_PATH)


def missing_requirements() -> list[str]:
    """Human-readable list of what prevents starting a cluster here (empty: all fine)."""
    missing = [f"`{b}`" for b in DAEMONS + CLIENTS if which(b) is None]
    problems = []
    if missing:
        problems.append(
            "missing binaries "
            + ", ".join(missing)
            + " (Debian packages slurmctld slurmd slurm-client munge; run .ci/install_slurm.sh as root)"
        )
    if os.geteuid() != 0:
        problems.append("not root (slurmd must run as root, munged as the munge user)")
    else:
        try:
            pwd.getpwnam("munge")
        except KeyError:
            problems.append("no `munge` user (installed by the munge package)")
    return problems


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _free_ports(n: int) -> list[int]:
    ports: list[int] = []
    while len(ports) < n:
        p = _free_port()
        if p not in ports:
            ports.append(p)
    return ports


def _tail(path: Path, n: int = 30) -> str:
    try:
        lines = path.read_text(errors="replace").splitlines()
    except OSError as exc:
        return f"<cannot read {path}: {exc}>"
    return "\n".join(lines[-n:])


def _pid_alive(pid: int) -> bool:
    """True if the PID exists and is not a zombie."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False


def _session_pids(sid: int) -> list[int]:
    """PIDs of all live processes in session ``sid`` (our daemons run in their own sessions)."""
    pids = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        # fields after the comm: state ppid pgrp session ...
        if int(fields[3]) == sid and fields[0] != "Z":
            pids.append(int(entry))
    return pids


def _terminate(pids: list[int], wait_s: float = 10.0) -> list[int]:
    """SIGTERM the PIDs, wait up to ``wait_s``, SIGKILL the rest; return those SIGKILLed."""
    for pid in pids:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + wait_s
    while time.monotonic() < deadline and any(_pid_alive(p) for p in pids):
        time.sleep(0.1)
    killed = [p for p in pids if _pid_alive(p)]
    for pid in killed:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and any(_pid_alive(p) for p in killed):
        time.sleep(0.1)
    return killed


def _node_topology() -> tuple[str, int, str]:
    """(node name, CPUs, topology fields) from ``slurmd -C`` (pitfall 5: copy it exactly)."""
    out = subprocess.run(
        [which("slurmd"), "-C"], capture_output=True, text=True, timeout=30, check=True
    ).stdout
    line = out.splitlines()[0]
    kv = dict(tok.split("=", 1) for tok in line.split() if "=" in tok)
    topo = " ".join(
        f"{k}={kv[k]}"
        for k in ("CPUs", "Boards", "SocketsPerBoard", "CoresPerSocket", "ThreadsPerCore")
        if k in kv
    )
    return kv["NodeName"], int(kv["CPUs"]), topo + f" RealMemory={int(int(kv['RealMemory']) * 0.8)}"


@dataclass
class SlurmCluster:
    """A running cluster.  ``env`` is what clients (sbatch, snakemake) must run with."""

    base: Path
    node: str
    cpus: int
    gpus: int
    partition: str
    conf: Path
    env: dict[str, str]
    logs: dict[str, Path]
    procs: dict[str, subprocess.Popen] = field(default_factory=dict)
    leftover_pids: list[int] = field(default_factory=list)

    @property
    def pids(self) -> dict[str, int]:
        return {name: p.pid for name, p in self.procs.items()}

    def run(self, *args: str, timeout: float = 30, check: bool = True) -> subprocess.CompletedProcess:
        """Run a SLURM client command against this cluster."""
        return subprocess.run(
            [which(args[0]) or args[0], *args[1:]],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=check,
        )

    def job_states(self) -> dict[str, str]:
        """{job id: state} of all jobs the controller still knows (MinJobAge=600)."""
        out = self.run("squeue", "--states=all", "--noheader", "--format=%i|%T").stdout
        return dict(line.split("|", 1) for line in out.split() if "|" in line)

    def cancel_all(self) -> None:
        """Cancel every job of this (private) cluster's user."""
        self.run("scancel", "--user", pwd.getpwuid(os.geteuid()).pw_name, check=False)

    def job_info(self, job_id: str) -> str:
        return self.run("scontrol", "show", "job", job_id, check=False).stdout

    def log_tails(self, n: int = 30) -> str:
        return "\n".join(f"--- {name} ({path}) ---\n{_tail(path, n)}" for name, path in self.logs.items())


def _write_configs(base: Path, node: str, topo: str, gpus: int, ports: list[int]) -> Path:
    etc = base / "etc"
    dev = base / "dev"
    for i in range(gpus):
        # A character device like /dev/nvidia<i> (major 195); nothing ever opens it (task/none).
        try:
            os.mknod(dev / f"fakegpu{i}", 0o666 | stat.S_IFCHR, os.makedev(195, i))
        except PermissionError:  # no CAP_MKNOD (some containers): slurmd accepts a plain file
            (dev / f"fakegpu{i}").touch()  # with a "not a valid character device" warning
    conf = etc / "slurm.conf"
    conf.write_text(
        f"""# generated by tests/integration/slurm_cluster.py -- throwaway test cluster
ClusterName={CLUSTER_NAME}
SlurmctldHost={node}(127.0.0.1)
SlurmctldPort={ports[0]}
SlurmdPort={ports[1]}
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket={base}/munge/munge.socket
StateSaveLocation={base}/state
SlurmdSpoolDir={base}/spool
SlurmctldPidFile={base}/run/slurmctld.pid
SlurmdPidFile={base}/run/slurmd.pid
SlurmctldLogFile={base}/log/slurmctld.log
SlurmdLogFile={base}/log/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
MpiDefault=none
MailProg=/bin/true
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
ReturnToService=2
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
# keep finished jobs visible to squeue (the plugin's squeue status mode needs >= 3 x init secs)
MinJobAge=600
SchedulerParameters=sched_interval=2
SlurmctldTimeout=30
SlurmdTimeout=30
InactiveLimit=0
KillWait=5
Waittime=0
GresTypes=gpu
# without it a job lacking --mem gets the whole node's memory (pitfall 4)
DefMemPerCPU=500
NodeName={node} NodeAddr=127.0.0.1 {topo} Gres=gpu:{gpus} State=UNKNOWN
PartitionName={PARTITION} Nodes=ALL Default=YES MaxTime=INFINITE State=UP
"""
    )
    (etc / "gres.conf").write_text(
        "AutoDetect=off\n"
        + "".join(f"NodeName={node} Name=gpu File={dev}/fakegpu{i}\n" for i in range(gpus))
    )
    # Not used by proctrack/linuxproc + task/none, but keeps slurmd from reading a system
    # cgroup.conf next to a system slurm.conf and from mounting anything.
    (etc / "cgroup.conf").write_text("CgroupAutomount=no\nConstrainCores=no\nConstrainRAMSpace=no\nConstrainDevices=no\n")
    return conf


def _write_client_wrappers(base: Path, conf: Path) -> Path:
    """``base/bin/<client>`` wrappers that pin SLURM_CONF, first on the clients' PATH.

    Needed because snakemake-executor-plugin-slurm-jobstep (0.6.1) removes every SLURM_*
    variable except the job identity (SLURM_CONF included) from the environment of the nested
    ``srun`` it starts inside a job; srun then looks for /etc/slurm/slurm.conf or DNS SRV
    records, and fails with "Could not establish a configuration source".  Real clusters have
    /etc/slurm/slurm.conf; this test cluster deliberately does not touch /etc.
    """
    bindir = base / "bin"
    bindir.mkdir(exist_ok=True)
    for name in ("srun", "sbatch", "squeue", "scancel", "sinfo", "scontrol", "sacct", "sshare", "sacctmgr"):
        real = which(name)
        if real is None:
            continue
        wrapper = bindir / name
        wrapper.write_text(f'#!/bin/sh\nSLURM_CONF="{conf}" exec "{real}" "$@"\n')
        wrapper.chmod(0o755)
    return bindir


def _start_munge(base: Path, env: dict[str, str], procs: dict, logs: dict) -> None:
    mdir = base / "munge"
    mdir.mkdir(mode=0o755)
    munge_user = pwd.getpwnam("munge")
    key = mdir / "munge.key"
    key.write_bytes(secrets.token_bytes(1024))
    for path in (mdir, key):
        os.chown(path, munge_user.pw_uid, munge_user.pw_gid)
    key.chmod(0o400)
    logs["munged"] = mdir / "munged.log"
    sock = mdir / "munge.socket"
    # munged refuses to run as root (pitfall 2): drop to the munge user directly (no runuser,
    # so the PID we hold is munged's own).
    procs["munged"] = subprocess.Popen(
        [
            which("munged"),
            "--foreground",
            f"--socket={sock}",
            f"--key-file={key}",
            f"--pid-file={mdir / 'munged.pid'}",
            f"--log-file={logs['munged']}",
            f"--seed-file={mdir / 'munged.seed'}",
        ],
        user=munge_user.pw_uid,
        group=munge_user.pw_gid,
        extra_groups=[],
        stdin=subprocess.DEVNULL,
        stdout=open(base / "log" / "munged.out", "wb"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
        cwd=mdir,
    )
    deadline = time.monotonic() + 15
    while True:
        if sock.exists():
            enc = subprocess.run(
                [which("munge"), "-n", f"--socket={sock}"], capture_output=True, timeout=10
            )
            if enc.returncode == 0:
                dec = subprocess.run(
                    [which("unmunge"), f"--socket={sock}"],
                    input=enc.stdout,
                    capture_output=True,
                    timeout=10,
                )
                if dec.returncode == 0:
                    return
        if procs["munged"].poll() is not None or time.monotonic() > deadline:
            raise SlurmStartError(
                "munged did not come up:\n"
                + _tail(base / "log" / "munged.out")
                + "\n"
                + _tail(logs["munged"])
            )
        time.sleep(0.1)


def _start_daemon(name: str, argv: list[str], base: Path, env: dict, procs: dict) -> None:
    procs[name] = subprocess.Popen(
        argv,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=open(base / "log" / f"{name}.out", "wb"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
        cwd=base,
    )


def _wait_node_idle(cluster: SlurmCluster, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    state = ""
    while time.monotonic() < deadline:
        for name, proc in cluster.procs.items():
            if proc.poll() is not None:
                raise SlurmStartError(f"{name} exited with {proc.returncode}\n{cluster.log_tails()}")
        res = cluster.run("sinfo", "-h", "-N", "-o", "%t", check=False, timeout=10)
        state = res.stdout.strip()
        if res.returncode == 0 and state == "idle":
            return
        time.sleep(0.2)
    raise SlurmStartError(f"node not idle after {timeout:.0f} s (state {state!r})\n{cluster.log_tails()}")


def cluster_pids(conf: Path | str, base: Path | str) -> list[int]:
    """Live processes belonging to the cluster: anything started with ``SLURM_CONF=<conf>`` in
    its environment (slurmstepd, job scripts and their children, srun) or with the base
    directory on its command line (the daemons).  Never this process itself."""
    marker_env = f"SLURM_CONF={conf}".encode()
    marker_cmd = str(base).encode()
    me = os.getpid()
    pids = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == me:
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                cmd = f.read()
            with open(f"/proc/{entry}/environ", "rb") as f:
                environ = f.read().split(b"\0")
        except OSError:
            continue
        if (marker_env in environ or marker_cmd in cmd) and _pid_alive(int(entry)):
            pids.append(int(entry))
    return pids


def stop_cluster(cluster: SlurmCluster, *, keep: bool = False, job_wait_s: float = 15) -> list[int]:
    """Cancel all jobs, stop the daemons and every process of the cluster by PID (SIGTERM,
    bounded wait, SIGKILL), purge the base dir.  Returns PIDs that survived even SIGKILL
    (normally empty); they are also stored in ``cluster.leftover_pids``."""
    daemon_pids = {p.pid for p in cluster.procs.values()}
    try:
        ctld = cluster.procs.get("slurmctld")
        if ctld is not None and ctld.poll() is None:
            with contextlib.suppress(Exception):
                cluster.cancel_all()
            # wait (bounded) until the job processes (slurmstepd, scripts) are gone
            deadline = time.monotonic() + job_wait_s
            while time.monotonic() < deadline:
                daemon_session = set()
                for p in daemon_pids:
                    daemon_session.update(_session_pids(p))
                if not set(cluster_pids(cluster.conf, cluster.base)) - daemon_session - daemon_pids:
                    break
                time.sleep(0.2)
    finally:
        # slurmd first, then the controller (and its slurmscriptd), then munge.  Each daemon is a
        # session leader (start_new_session), so every process still in its session is ours.
        for name in ("slurmd", "slurmctld", "munged"):
            proc = cluster.procs.get(name)
            if proc is None:
                continue
            pids = [proc.pid] + [p for p in _session_pids(proc.pid) if p != proc.pid]
            _terminate(pids, wait_s=10)
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=5)
        # whatever else of the cluster is still around (job processes whose slurmstepd died)
        rest = cluster_pids(cluster.conf, cluster.base)
        if rest:
            _terminate(rest, wait_s=5)
        cluster.leftover_pids = [p for p in daemon_pids if _pid_alive(p)] + [
            p for p in cluster_pids(cluster.conf, cluster.base) if p not in daemon_pids
        ]
        if not keep:
            shutil.rmtree(cluster.base, ignore_errors=True)
    return cluster.leftover_pids


@contextlib.contextmanager
def slurm_cluster(
    *, gpus: int = 1, keep: bool = False, parent_dir: str | None = None, start_timeout: float = 40
) -> Iterator[SlurmCluster]:
    """Start a single-node cluster with ``gpus`` fake GPUs; always stop it on exit.

    Raises SlurmUnavailable when it cannot run here (see missing_requirements()).
    ``keep=True`` (or env STEPLOC_KEEP_SLURM_BASE=1) leaves the base directory (logs) behind.
    """
    problems = missing_requirements()
    if problems:
        raise SlurmUnavailable("; ".join(problems))
    keep = keep or os.environ.get("STEPLOC_KEEP_SLURM_BASE") == "1"
    # short base path: the munge socket path must stay below the 108-byte sun_path limit
    base = Path(tempfile.mkdtemp(prefix="steploc-slurm-", dir=parent_dir or "/tmp"))
    base.chmod(0o755)  # munged (as munge) must traverse it
    for d in ("etc", "state", "spool", "log", "run", "dev"):
        (base / d).mkdir()
    node, cpus, topo = _node_topology()
    conf = _write_configs(base, node, topo, gpus, _free_ports(2))
    # Clients see only this cluster: drop SLURM_* inherited from an enclosing job (the plugin
    # behaves differently inside a job), keep the search path for /usr/sbin.
    env = {k: v for k, v in os.environ.items() if not k.startswith("SLURM_")}
    env["SLURM_CONF"] = str(conf)
    env["PATH"] = os.pathsep.join([str(_write_client_wrappers(base, conf)), _SEARCH_PATH])
    cluster = SlurmCluster(
        base=base,
        node=node,
        cpus=cpus,
        gpus=gpus,
        partition=PARTITION,
        conf=conf,
        env=env,
        logs={
            "munged": base / "munge" / "munged.log",
            "slurmctld": base / "log" / "slurmctld.log",
            "slurmd": base / "log" / "slurmd.log",
        },
    )
    # A plain SIGTERM (CI timeout, `kill`) would end Python without running `finally`, leaving
    # the daemons behind: turn it into SystemExit while the cluster is up.
    restore_sigterm = None
    if threading.current_thread() is threading.main_thread() and signal.getsignal(signal.SIGTERM) in (
        signal.SIG_DFL,
        None,
    ):
        restore_sigterm = signal.SIG_DFL
        signal.signal(signal.SIGTERM, _raise_system_exit)
    try:
        _start_munge(base, env, cluster.procs, cluster.logs)
        # -c: ignore old state (also clears a node drained by an earlier failed registration)
        _start_daemon("slurmctld", [which("slurmctld"), "-D", "-c", "-f", str(conf)], base, env, cluster.procs)
        _start_daemon("slurmd", [which("slurmd"), "-D", "-f", str(conf), "-N", node], base, env, cluster.procs)
        for name, proc in cluster.procs.items():
            (base / "run" / f"{name}.fixture.pid").write_text(f"{proc.pid}\n")
        _wait_node_idle(cluster, start_timeout)
        yield cluster
    finally:
        try:
            stop_cluster(cluster, keep=keep)
        finally:
            if restore_sigterm is not None:
                signal.signal(signal.SIGTERM, restore_sigterm)


def _raise_system_exit(signum, frame):
    raise SystemExit(128 + signum)


def _main() -> int:
    problems = missing_requirements()
    if problems:
        print("cannot start:", "; ".join(problems), file=sys.stderr)
        return 2
    with slurm_cluster(keep="--keep" in sys.argv) as c:
        print(f"cluster up: node {c.node}, {c.cpus} CPUs, {c.gpus} GPU(s), base {c.base}")
        print(f"pids: {c.pids}")
        print(f"export SLURM_CONF={c.conf} PATH={c.base / 'bin'}:$PATH")
        print(f"pid {os.getpid()}: kill -TERM it (or Ctrl-C) to stop", flush=True)
        stop = []
        signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
        try:
            while not stop:
                time.sleep(1)
        except KeyboardInterrupt:
            pass
    print("cluster stopped")
    return 0


if __name__ == "__main__":
    sys.exit(_main())
