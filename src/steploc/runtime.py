"""Process set-up shared by the command-line entry points."""

from __future__ import annotations

import logging
import os
import sys


def pin_threads(threads: int) -> None:
    """Limit BLAS/OpenMP and torch to ``threads``.

    The clustering matrices are small (N <= ~600 nodes): one BLAS thread per video is about 3.5x
    faster than two, so parallelism comes from running videos side by side, not from threads
    inside one video.
    """
    threads = max(1, int(threads))
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = str(threads)
    from threadpoolctl import threadpool_limits

    threadpool_limits(threads)
    # torch reads OMP_NUM_THREADS when it is imported; only an already imported torch needs
    # telling (importing it here would cost a CPU-only job a second of start-up).
    torch = sys.modules.get("torch")
    if torch is not None:
        torch.set_num_threads(threads)


def setup_logging(level: str = "INFO") -> None:
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")


def put_interpreter_first_on_path() -> None:
    """Make ``python`` in job shells the interpreter running Snakemake (e.g. its venv's).

    Rules run ``python -m steploc``: writing ``sys.executable`` into the command instead would
    put a machine-specific path into the command text, which Snakemake treats as a code change
    (rerunning everything when the venv moves). With ``--sdm conda`` the job's activated env
    comes first on PATH and wins.
    """
    interpreter_dir = os.path.dirname(sys.executable)
    os.environ["PATH"] = os.pathsep.join([interpreter_dir, os.environ.get("PATH", "")])
