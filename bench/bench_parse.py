"""Parse time of a large dataset: 10,000 videos (SYNTHETIC tiny feature files, `table` format).

Times, in the same run:

* baseline: building the video table in-process (`build_video_table`, warm fingerprint cache);
* `snakemake -n` in the main process (parse: table build + publish, then the DAG of
  10,000 videos x every stage);
* a job's re-parse: what every cluster/group job pays (`snakemake` in remote mode, which reads
  results/video_table.parquet and opens no feature file), here timed as the Python-level
  parse of the workflow by a job process.

    python bench/bench_parse.py [--videos 10000] [--shards 16]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import yaml

REPO = Path(__file__).resolve().parents[1]


def write_dataset(root: Path, n_videos: int, shards: int) -> Path:
    features = root / "features_synthetic"
    features.mkdir(parents=True)
    rows = ["video_id,activity,duration_s"]
    rng = np.random.default_rng(0)
    for i in range(n_videos):
        video = f"v{i:05d}"
        np.save(features / f"{video}.npy", rng.standard_normal((12, 8)).astype(np.float32))
        rows.append(f"{video},activity{i % 20},12")
    (root / "videos.csv").write_text("\n".join(rows) + "\n")
    config = {
        "annotations": {"format": "table", "root": str(root), "video_table": "videos.csv"},
        "features": {"dir": str(features), "pattern": "{video_id}.npy", "period_s": 1.0},
        "params": {"k_strategy": "fixed", "k_fixed": 3},
        "models": {"raw": {"type": "raw", "depth": 0}},
        "clustering": {"default": {"method": "kmeans"}},
        "evaluation": {"enabled": False},
        "procedure": {"enabled": False},
        "batching": {"shards": shards},
        "device": "cpu",
    }
    path = root / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def timed(command: list[str], cwd: Path) -> float:
    start = time.perf_counter()
    proc = subprocess.run(command, cwd=cwd, capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        sys.exit(f"failed: {' '.join(command)}\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--videos", type=int, default=10_000)
    parser.add_argument("--shards", type=int, default=16)
    args = parser.parse_args()
    snakemake = [sys.executable, "-m", "snakemake", "--snakefile", str(REPO / "Snakefile")]
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        config = write_dataset(root, args.videos, args.shards)
        build = (f"import time, yaml; from steploc.config import validate_config;"
                 f"from steploc.fingerprint import FingerprintCache;"
                 f"from steploc.video_table import build_video_table;"
                 f"c = validate_config(yaml.safe_load(open({str(config)!r})));"
                 f"f = FingerprintCache('.snakemake/steploc/feature_fingerprints.json');"
                 f"build_video_table(c, f); f.save(); t = time.perf_counter();"
                 f"build_video_table(c, f); print(time.perf_counter() - t)")
        out = subprocess.run([sys.executable, "-c", build], cwd=root, capture_output=True,
                             text=True, check=True)
        table_s = float(out.stdout.strip().splitlines()[-1])
        dry = [*snakemake, "-n", "--cores", "2", "--configfile", str(config),
               "--replace-workflow-config", "-q"]
        timed(dry, root)  # first parse: cold caches, table published
        parse_s = min(timed(dry, root) for _ in range(2))
        # A job's parse: remote mode (what `--mode remote` jobs of an executor run), one target.
        features = root / "features_synthetic"
        features.rename(root / "features_moved")  # prove the job opens no feature file
        job = [*snakemake, "--mode", "remote", "--cores", "1", "--configfile", str(config),
               "--replace-workflow-config", "-n", "-q", "--allowed-rules", "all"]
        job_s = timed(job, root)
        (root / "features_moved").rename(features)
    print(f"{args.videos} videos, {args.shards} shards (SYNTHETIC features)\n")
    print("| step | wall s | / table build |")
    print("|---|---|---|")
    print(f"| video table build in-process (baseline, warm fingerprints) | {table_s:.2f} | 1.00 |")
    print(f"| `snakemake -n`, main process (parse + DAG) | {parse_s:.2f} | {parse_s / table_s:.2f} |")
    print(f"| a job's re-parse (remote mode, feature folder moved away) | {job_s:.2f} | "
          f"{job_s / table_s:.2f} |")


if __name__ == "__main__":
    main()
