"""Cost of every segmenter on one video: wall time and peak memory against N and D.

Part "scale" (the default): every method of ``steploc.segment.make_segmenter`` with its schema
defaults, K = 8, on SYNTHETIC piecewise-constant features with noise (8 steps of random
lengths, 6 distinct step prototypes, so some steps repeat; float32), for N in
{1000, 5000, 10000, 54000} rows and D in {64, 256}. Each cell runs in a fresh subprocess with
one BLAS/OpenMP thread (OMP/MKL/OPENBLAS_NUM_THREADS=1 and threadpoolctl), after an untimed
warm-up fit on a tiny input (lazy imports), and reports

* the wall seconds of ``fit`` (median of ``--repeats``; fewer when a cell's runs exceed
  ``--cell-budget-s``, the count is printed);
* the peak RSS of the child (``resource.getrusage(RUSAGE_SELF).ru_maxrss``) minus its peak
  after the imports and the warm-up, which includes loading the input, and the absolute peak;
* the same minus the size of the float32 input (what ``fit`` itself added) and the
  estimator's own ``estimated_memory_bytes`` (what its memory check compares with
  ``memory_limit_mb``), with whether the estimate covers it;
* or ``refused: <message>`` when ``fit`` raises ``SegmenterTooLarge`` under
  ``--memory-limit-mb`` (4000).

Baselines measured in the same run, same data, same kind of subprocess: the ``uniform`` split
(``np.arange(N) * K // N``) and a plain scikit-learn ``KMeans(n_clusters=K, random_state=0)``
fit on the raw rows; every time is also printed as a ratio to that KMeans time. The ``ok``
column checks the requirement: at N <= 10,000 a fit within 2 s and an absolute peak within
4000 MiB; above, within 60 s and 4000 MiB, or a refusal.

Part "real" (``--real --metrics-table results/metrics/overall.parquet``): prints the selected
columns of a metrics table written by the workflow's evaluate stage. Nothing is measured or
invented here: without the table it says so and exits with status 1.

    python bench/bench_segmenters.py [--repeats 3] [--sizes 1000 5000 10000 54000]
        [--dims 64 256] [--methods spectral kmeans twfinch abd kcpd] [--json out.json]
    python bench/bench_segmenters.py --real --metrics-table results/metrics/overall.parquet
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
METHODS = ("spectral", "kmeans", "twfinch", "abd", "kcpd")
BASELINES = ("uniform", "sklearn-kmeans")
SIZES = (1000, 5000, 10000, 54000)
DIMS = (64, 256)
THREAD_VARIABLES = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS",
                    "VECLIB_MAXIMUM_THREADS", "NUMEXPR_NUM_THREADS")
#: The requirement: (largest N it applies to, seconds, MiB). Above the last N: or a refusal.
SMALL_N, SMALL_SECONDS, LARGE_SECONDS, PEAK_MIB = 10_000, 2.0, 60.0, 4000.0
#: Columns of the real-sample table printed by default (those present).
REAL_COLUMNS = ("model", "setting", "videos_scored", "videos_skipped", "precision", "recall",
                "f1", "iou", "mof", "mof_video_mean", "edit", "f1@0.10", "f1@0.25", "f1@0.50",
                "activity_level_mof", "activity_level_f1")


# ----------------------------------------------------------------------------- data


def synthetic_features(n: int, d: int, k: int, seed: int = 0):
    """SYNTHETIC ``(n, d)`` float32 rows: ``k`` steps of random lengths (at least n/(4k)
    rows each), ``max(2, k - 2)`` unit prototypes (so steps repeat), plus Gaussian noise of
    norm ~0.7 per row. Returns ``(X, truth)``."""
    import numpy as np

    rng = np.random.default_rng(seed)
    n_protos = max(2, k - 2)
    protos = rng.standard_normal((n_protos, d))
    protos /= np.linalg.norm(protos, axis=1, keepdims=True)
    steps = np.r_[np.arange(n_protos), rng.integers(0, n_protos, k - n_protos)]
    rng.shuffle(steps)
    minimum = max(1, n // (4 * k))
    extra = rng.multinomial(n - minimum * k, rng.dirichlet(np.ones(k)))
    truth = np.repeat(steps, minimum + extra)
    x = np.empty((n, d), dtype=np.float32)
    for start in range(0, n, 4096):  # in chunks: no (n, d) float64 temporary
        stop = min(start + 4096, n)
        noise = rng.standard_normal((stop - start, d)) * (0.7 / np.sqrt(d))
        x[start:stop] = protos[truth[start:stop]] + noise
    return x, truth


# ----------------------------------------------------------------------------- child


def child_main(spec: dict) -> dict:
    """One cell, in this fresh process: warm up, load the input, fit ``repeats`` times."""
    import resource

    import numpy as np
    from threadpoolctl import threadpool_limits

    def peak_mib() -> float:
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # KiB on Linux

    method, k, limit = spec["method"], int(spec["k"]), spec["memory_limit_mb"]
    result: dict = {"refused": None, "note": "", "n_clusters": None, "estimate_mib": None}
    with threadpool_limits(limits=1):
        if method == "uniform":
            def fit(x):
                return np.arange(len(x)) * k // len(x)
        elif method == "sklearn-kmeans":
            from sklearn.cluster import KMeans

            def fit(x):
                return KMeans(n_clusters=k, random_state=0).fit(x).labels_
        else:
            from steploc.segment import SegmenterTooLarge, make_segmenter

            def fit(x):
                seg = make_segmenter(method, k, memory_limit_mb=limit)
                try:
                    seg.fit(x)
                except SegmenterTooLarge as refusal:
                    result["refused"] = str(refusal)
                    return None
                result["note"], result["n_clusters"] = seg.note_, int(seg.n_clusters_)
                return seg.labels_

            estimate = make_segmenter(method, k, memory_limit_mb=limit).estimated_memory_bytes(
                int(spec["n"]), int(spec["d"]))
            result["estimate_mib"] = estimate / 2**20
        warm, _ = synthetic_features(max(4 * k, 64), int(spec["d"]), k, seed=1)
        fit(warm)  # lazy imports (ruptures, sklearn) and first-call costs, untimed
        result["refused"] = None
        baseline = peak_mib()
        x = np.load(spec["path"])
        times: list[float] = []
        spent = 0.0
        for _ in range(int(spec["repeats"])):
            start = time.perf_counter()
            fit(x)
            times.append(time.perf_counter() - start)
            spent += times[-1]
            if result["refused"] is not None or spent > float(spec["cell_budget_s"]):
                break
    result.update(times=times, baseline_mib=baseline, peak_mib=peak_mib())
    return result


def run_cell(spec: dict, timeout_s: float) -> dict:
    """Run one cell in a fresh interpreter with one thread; a dict with its figures, or with
    ``error`` (timeout, killed, crashed)."""
    env = {**os.environ, **dict.fromkeys(THREAD_VARIABLES, "1")}
    src = str(REPO / "src")
    env["PYTHONPATH"] = src + os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else src
    command = [sys.executable, str(Path(__file__).resolve()), "--child", json.dumps(spec)]
    try:
        done = subprocess.run(command, env=env, capture_output=True, text=True,
                              timeout=timeout_s, check=False)
    except subprocess.TimeoutExpired:
        return {"error": f"timeout: no result within {timeout_s:g} s"}
    if done.returncode != 0:
        why = (f"killed by signal {-done.returncode}" if done.returncode < 0
               else f"exit status {done.returncode}")
        tail = done.stderr.strip().splitlines()[-1:] or [""]
        return {"error": f"{why}: {tail[0]}"}
    return json.loads(done.stdout.strip().splitlines()[-1])


# ----------------------------------------------------------------------------- table


def cell_ok(n: int, row: dict) -> str:
    if "error" in row:
        return "NO"
    if row["refused"] is not None:
        return "yes (refused)" if n > SMALL_N else "NO (refused)"
    seconds = SMALL_SECONDS if n <= SMALL_N else LARGE_SECONDS
    good = statistics.median(row["times"]) <= seconds and row["peak_mib"] <= PEAK_MIB
    return "yes" if good else "NO"


def markdown_table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(cells) + " |" for cells in rows]
    return "\n".join(lines)


def scale_rows(results: list[dict]) -> list[list[str]]:
    kmeans_s = {(r["n"], r["d"]): statistics.median(r["times"]) for r in results
                if r["method"] == "sklearn-kmeans" and r.get("times")}
    rows = []
    for r in results:
        n, d, method = r["n"], r["d"], r["method"]
        baseline = method in BASELINES
        label = f"{method} (baseline)" if baseline else method
        if "error" in r:
            rows.append([label, str(n), str(d), r["error"], *[""] * 6, "NO", ""])
            continue
        over = r["peak_mib"] - r["baseline_mib"]
        fit_mib = max(over - input_mib(n, d), 0.0)
        estimate = covers = ""
        if r["estimate_mib"] is not None:
            estimate = f"{r['estimate_mib']:.0f}"
            covers = "yes" if r["estimate_mib"] >= fit_mib else "NO"
        memory = [f"{over:.0f}", f"{fit_mib:.0f}", estimate, covers, f"{r['peak_mib']:.0f}"]
        ok = "" if baseline else cell_ok(n, r)
        if r["refused"] is not None:
            rows.append([label, str(n), str(d), "refused: " + r["refused"], "", *memory, ok, ""])
            continue
        seconds = statistics.median(r["times"])
        ratio = (f"{seconds / kmeans_s[(n, d)]:.3g}" if (n, d) in kmeans_s
                 and kmeans_s[(n, d)] > 0 else "")
        rows.append([label, str(n), str(d), f"{seconds:.3g} (x{len(r['times'])})", ratio,
                     *memory, ok, r["note"][:48]])
    return rows


def input_mib(n: int, d: int) -> float:
    """Size of the float32 input the child loads after its baseline."""
    return 4 * n * d / 2**20


def summary_tables(results: list[dict]) -> str:
    """The same figures as two compact tables (method x cell): the fit time with its ratio
    to the sklearn KMeans baseline, and fit MiB / estimate MiB / absolute peak MiB."""
    cells = sorted({(r["n"], r["d"]) for r in results})
    by_key = {(r["method"], r["n"], r["d"]): r for r in results}
    methods = list(dict.fromkeys(r["method"] for r in results))
    kmeans_s = {(r["n"], r["d"]): statistics.median(r["times"]) for r in results
                if r["method"] == "sklearn-kmeans" and r.get("times")}
    header = ["method", *(f"{n} × {d}" for n, d in cells)]
    times, memory = [], []
    for method in methods:
        label = f"{method} (baseline)" if method in BASELINES else method
        time_row, memory_row = [label], [label]
        for n, d in cells:
            r = by_key.get((method, n, d))
            if r is None or "error" in r:
                time_row.append("" if r is None else r["error"])
                memory_row.append("")
                continue
            if r["refused"] is not None:
                time_row.append("refused")
            else:
                seconds = statistics.median(r["times"])
                shown = f"{seconds:.3f}" if seconds >= 1e-3 else f"{seconds:.0e}"
                base = kmeans_s.get((n, d))
                time_row.append(f"{shown} ({seconds / base:.2g})" if base else shown)
            fit_mib = max(r["peak_mib"] - r["baseline_mib"] - input_mib(n, d), 0.0)
            estimate = "–" if r["estimate_mib"] is None else f"{r['estimate_mib']:.0f}"
            memory_row.append(f"{fit_mib:.0f} / {estimate} / {r['peak_mib']:.0f}")
        times.append(time_row)
        memory.append(memory_row)
    return ("Fit seconds (ratio to the sklearn KMeans baseline of the same cell), N × D:\n\n"
            + markdown_table(header, times)
            + "\n\nMiB: fit (peak RSS over imports minus the float32 input) / the estimator's "
            "estimate / absolute peak RSS of the process:\n\n" + markdown_table(header, memory))


def run_scale(args: argparse.Namespace) -> int:
    import numpy as np

    methods = [*args.methods, *BASELINES]
    results: list[dict] = []
    load_before = os.getloadavg()
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="steploc-bench-seg-") as tmp:
        for n in args.sizes:
            for d in args.dims:
                path = Path(tmp) / f"x_{n}_{d}.npy"
                x, _ = synthetic_features(n, d, args.k)
                np.save(path, x)
                del x
                for method in methods:
                    spec = {"method": method, "n": n, "d": d, "k": args.k, "path": str(path),
                            "repeats": args.repeats, "cell_budget_s": args.cell_budget_s,
                            "memory_limit_mb": args.memory_limit_mb}
                    row = {"method": method, "n": n, "d": d,
                           **run_cell(spec, args.timeout_s)}
                    results.append(row)
                    shown = (row.get("error") or ("refused" if row.get("refused") else
                             f"{statistics.median(row['times']):.3f} s, "
                             f"peak {row['peak_mib']:.0f} MiB"))
                    print(f"  {method:<15} N={n:<6} D={d:<4} {shown}", file=sys.stderr,
                          flush=True)
                path.unlink()
    load_after = os.getloadavg()
    print(f"SYNTHETIC piecewise-constant features (K={args.k} steps, float32); "
          f"{os.cpu_count()} CPUs ({platform.processor() or platform.machine()}), 1 thread "
          f"per fit; load average {load_before[0]:.2f} before, {load_after[0]:.2f} after "
          f"({time.perf_counter() - started:.0f} s); memory_limit_mb={args.memory_limit_mb:g}; "
          f"time = median of the runs (count in brackets)\n")
    header = ["method", "N", "D", "fit s", "/ sklearn KMeans", "peak MiB over imports",
              "of it fit (- input)", "estimate MiB", "estimate >= fit", "peak MiB abs", "ok",
              "note"]
    print(markdown_table(header, scale_rows(results)))
    print("\n" + summary_tables(results))
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1))
    failed = [r for r in results if r["method"] not in BASELINES
              and cell_ok(r["n"], r).startswith("NO")]
    for r in failed:
        print(f"requirement missed: {r['method']} N={r['n']} D={r['d']}", file=sys.stderr)
    return 1 if failed else 0


# ----------------------------------------------------------------------------- real


def run_real(args: argparse.Namespace) -> int:
    """Print the chosen columns of a metrics table from the workflow's evaluate stage."""
    if args.metrics_table is None:
        print("--real needs --metrics-table PATH (e.g. results/metrics/overall.parquet, "
              "written by the workflow's evaluate stage)", file=sys.stderr)
        return 1
    path = Path(args.metrics_table)
    if not path.exists():
        print(f"no metrics table at {path}: run the workflow up to its evaluate stage first; "
              "nothing to print", file=sys.stderr)
        return 1
    import pandas as pd

    table = pd.read_parquet(path)
    wanted = args.columns or [c for c in REAL_COLUMNS if c in table.columns]
    missing = [c for c in wanted if c not in table.columns]
    if missing:
        print(f"{path} has no column(s) {missing}; it has {list(table.columns)}",
              file=sys.stderr)
        return 1

    def text(value) -> str:
        return f"{value:.4f}" if isinstance(value, float) else str(value)

    print(f"metrics from {path} ({len(table)} rows)\n")
    print(markdown_table(list(wanted),
                         [[text(v) for v in row] for row in table[wanted].itertuples(index=False)]))
    return 0


# ----------------------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--scale", action="store_true",
                        help="run the scale part (the default when --real is not given)")
    parser.add_argument("--methods", nargs="+", default=list(METHODS), choices=METHODS)
    parser.add_argument("--sizes", nargs="+", type=int, default=list(SIZES))
    parser.add_argument("--dims", nargs="+", type=int, default=list(DIMS))
    parser.add_argument("--k", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--cell-budget-s", type=float, default=60.0,
                        help="stop repeating a cell once its runs took this long in all")
    parser.add_argument("--timeout-s", type=float, default=600.0,
                        help="kill a cell's subprocess after this long")
    parser.add_argument("--memory-limit-mb", type=float, default=4000.0)
    parser.add_argument("--json", help="also write the raw figures to this file")
    parser.add_argument("--real", action="store_true",
                        help="print the real-sample metrics table (--metrics-table)")
    parser.add_argument("--metrics-table", help="parquet from the workflow's evaluate stage, "
                        "e.g. results/metrics/overall.parquet")
    parser.add_argument("--columns", nargs="+", help="columns of the metrics table to print")
    args = parser.parse_args(argv)
    if args.child is not None:
        print(json.dumps(child_main(json.loads(args.child))))
        return 0
    status = 0
    if args.scale or not args.real:
        status = max(status, run_scale(args))
    if args.real:
        status = max(status, run_real(args))
    return status


if __name__ == "__main__":
    sys.exit(main())
