"""Pipeline overhead: the Snakemake run against a plain in-process loop doing the same work.

Both run in this one invocation on the same SYNTHETIC features of all 384 CaptainCook4D
recordings (1 feature/s, 256-d; generated first, not timed): params table, raw pooling to depth
2, spectral clustering + mode smoothing, segments, embeddings and Parquet summaries.

    python bench/bench_pipeline.py [--cores 2] [--shards 4] [--per-video] [--limit N]

Prints the wall times and the ratio pipeline / loop (target: <= 1.5 with --cores 2).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]


def write_config(workdir: Path, features_dir: Path, shards: int, limit: int | None) -> Path:
    config = yaml.safe_load((REPO / "config/config.yaml").read_text())
    config["annotations"]["root"] = str(REPO / "data/captaincook4d")
    config["videos"] = {"activity_ids": [], "recording_ids": [],
                        "max_per_activity": limit}
    config["features"]["dir"] = str(features_dir)
    config["batching"] = {"shards": shards}
    # Same work as the loop below: the raw model, one clustering setting, no scoring.
    config["models"] = {"raw": config["models"]["raw"]}
    config["clustering"] = {"default": config["clustering"]["default"]}
    config["evaluation"] = {"enabled": False}
    path = workdir / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def run_pipeline(workdir: Path, config: Path, cores: int) -> float:
    cmd = [sys.executable, "-m", "snakemake", "--snakefile", str(REPO / "Snakefile"),
           "--directory", str(workdir), "--configfile", str(config), "--cores", str(cores),
           "--resources", "gpu=1", "--replace-workflow-config", "--quiet", "all"]
    start = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - start


def run_loop(config_path: Path, out_dir: Path) -> float:
    """The notebook-style loop, in this process, one video after the other."""
    from steploc.hierarchy import HierarchyVideo, run_hierarchy
    from steploc.params import build_params_table
    from steploc.runtime import pin_threads
    from steploc.segment.job import SegmentVideo, run_segment
    from steploc.summaries import summarize

    pin_threads(1)
    config = yaml.safe_load(config_path.read_text())
    start = time.perf_counter()
    table = build_params_table(config)
    ok = table[table["status"] == "ok"]
    model_cfg = config["models"]["raw"]
    seg_files = {}
    for r in ok.itertuples(index=False):
        h_path = out_dir / "hierarchy" / f"{r.video_id}.npz"
        run_hierarchy([HierarchyVideo(r.video_id, r.feature_path, int(r.n_features),
                                      int(r.feature_dim), float(r.feature_period_s),
                                      float(r.duration_s), str(h_path))], "raw", model_cfg)
        s_path = out_dir / "segments" / f"{r.video_id}.npz"
        run_segment([SegmentVideo(r.video_id, str(h_path), r.feature_path, int(r.n_clusters),
                                  str(s_path))], "raw", "default", config["clustering"]["default"])
        seg_files[r.video_id] = str(s_path)
    summarize(table, seg_files, "raw", "default", out_dir / "summary")
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cores", type=int, default=2)
    parser.add_argument("--shards", type=int, default=4)
    parser.add_argument("--per-video", action="store_true",
                        help="also time batching.shards=0 (one job per video; slow)")
    parser.add_argument("--limit", type=int, default=None,
                        help="max recordings per activity (default: all 384)")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="steploc-bench-") as tmp:
        tmp = Path(tmp)
        features = tmp / "synthetic_features"
        config = write_config(tmp, features, args.shards, args.limit)
        from steploc.demo import write_demo_features

        t0 = time.perf_counter()
        n = len(write_demo_features(yaml.safe_load(config.read_text()), features))
        print(f"generated {n} SYNTHETIC feature files in {time.perf_counter() - t0:.1f} s (untimed)")

        loop_s = run_loop(config, tmp / "loop")
        rows = [("in-process loop (1 process, 1 BLAS thread)", loop_s)]
        (tmp / "pipe").mkdir()
        pipe_s = run_pipeline(tmp / "pipe", config, args.cores)
        rows.append((f"snakemake --cores {args.cores}, batching.shards={args.shards}", pipe_s))
        if args.per_video:
            per_video_config = write_config(tmp, features, 0, args.limit)
            (tmp / "pipe1").mkdir()
            rows.append((f"snakemake --cores {args.cores}, one job per video",
                         run_pipeline(tmp / "pipe1", per_video_config, args.cores)))

    print(f"\n{n} videos, raw model, clustering 'default'")
    print(f"{'run':<55} {'wall s':>8} {'/ loop':>7}")
    for name, seconds in rows:
        print(f"{name:<55} {seconds:8.1f} {seconds / loop_s:7.2f}")


if __name__ == "__main__":
    main()
