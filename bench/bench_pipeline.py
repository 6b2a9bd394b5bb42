"""The pipeline against an in-process loop of steploc's own code and the seed notebook's loop.

All three run in this one invocation on the same SYNTHETIC features of the 384 CaptainCook4D
recordings (1 feature/s, 256-d; generated first, not timed), with the same model (``--model
hiero``: the demo's HiERO checkpoint with RANDOM weights, or ``raw``) and one clustering
setting, and no scoring:

* ``loop``: steploc's functions in one process, 1 BLAS thread: the video table, the hierarchy
  stage on all videos, the segment stage on all videos, the summaries;
* ``notebook``: a re-creation of the seed notebook: sequential, per video np.load, the HiERO
  full forward (ours in place of the reference one), scikit-learn SpectralClustering with its
  default threads, scipy's median filter, np.savez;
* ``pipeline``: ``snakemake --cores N --resources gpu=1`` with ``batching.shards`` shards;
* ``rerun``: the pipeline again after a clustering-setting change (redoes all segment work).

Each runs in a fresh interpreter and is timed from its start to its exit, imports included: a
user's loop pays them once, the pipeline once per job (sharing one process would hand the second
contender the first one's imports for free).

    python bench/bench_pipeline.py [--model hiero|raw] [--cores 2] [--shards 4] [--limit N]

Prints the wall times and the ratios (targets: pipeline <= 1.3x loop and <= 0.5x notebook;
rerun <= 0.6x pipeline).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]


def write_config(workdir: Path, features_dir: Path, checkpoint: Path, model: str, shards: int,
                 limit: int | None, temperature: float = 0.05) -> Path:
    config = yaml.safe_load((REPO / "config/config.yaml").read_text())
    config["annotations"]["root"] = str(REPO / "data/captaincook4d")
    config["videos"] = {"activity_ids": [], "recording_ids": [], "max_per_activity": limit}
    config["features"]["dir"] = str(features_dir)
    config["batching"] = {"shards": shards}
    models = {"raw": {"type": "raw", "depth": 2},
              "hiero": {"type": "hiero", "checkpoint": str(checkpoint), "depth": 2,
                        "positions": "index"}}
    config["models"] = {model: models[model]}
    config["clustering"] = {"default": {**config["clustering"]["default"],
                                        "temperature": temperature}}
    # the same work as the loop: no scoring, no procedure stage
    config["evaluation"] = {"enabled": False}
    config["procedure"] = {"enabled": False}
    path = workdir / f"config_{temperature}.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def run_pipeline(workdir: Path, config: Path, cores: int) -> float:
    cmd = [sys.executable, "-m", "snakemake", "--snakefile", str(REPO / "Snakefile"),
           "--directory", str(workdir), "--configfile", str(config), "--cores", str(cores),
           "--resources", "gpu=1", "--replace-workflow-config", "--quiet", "all"]
    start = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - start


def run_loop(config_path: Path, model_name: str, out_dir: Path) -> None:
    """steploc's own stages, in this process, on all videos as one shard."""
    from steploc.config import load_config
    from steploc.hierarchy import build_model, run_hierarchy
    from steploc.intermediate import read_hierarchy
    from steploc.runtime import pin_threads
    from steploc.segment.job import run_segment
    from steploc.summaries import summarize
    from steploc.video_table import build_video_table

    pin_threads(1)
    config = load_config(config_path)
    config["batching"]["shards"] = 1
    table = build_video_table(config)
    ok = table[table["status"] == "ok"].sort_values("video_id")
    entry = config["models"][model_name]
    model = build_model(entry["type"], entry["depth"], feature_dim=int(ok["feature_dim"].iloc[0]),
                        checkpoint=entry.get("checkpoint"), positions=entry.get("positions", "index"),
                        device="cpu")
    paths = ok["feature_path"].tolist()
    nodes, videos = out_dir / "all.nodes.parquet", out_dir / "all.videos.parquet"
    run_hierarchy(ok, paths, model_name, model, nodes, videos,
                  batch_size=config["resources"]["hierarchy"]["batch_size"])
    segments, seg_videos = out_dir / "all.segments.parquet", out_dir / "all.seg_videos.parquet"
    run_segment(ok, paths, read_hierarchy(nodes, videos), model_name, "default",
                config["clustering"]["default"], segments, seg_videos)
    summarize(table, [segments], [seg_videos], model_name, "default", out_dir / "s.parquet",
              out_dir / "e.parquet", out_dir / "v.parquet")


def run_notebook(config_path: Path, model_name: str, out_dir: Path) -> None:
    """The seed notebook's recipe: one video after the other, library defaults."""
    import numpy as np
    from scipy.ndimage import median_filter
    from sklearn.cluster import SpectralClustering

    from steploc.config import load_config
    from steploc.video_table import build_video_table

    config = load_config(config_path)
    table = build_video_table(config)
    ok = table[table["status"] == "ok"]
    entry = config["models"][model_name]
    model = None
    if entry["type"] == "hiero":
        from steploc.hiero import load_checkpoint

        model = load_checkpoint(entry["checkpoint"], device="cpu")
    for r in ok.itertuples(index=False):
        x = np.load(r.feature_path).astype(np.float32)
        if model is not None:
            levels = model.extract_levels(x)  # the full forward, as the notebook ran it
            nodes = levels[2][0].numpy()
        else:
            from steploc.pooling import pool_video

            nodes = pool_video(x, 2)
        unit = nodes / np.linalg.norm(nodes, axis=1, keepdims=True)
        affinity = np.exp((unit @ unit.T - 1) / 0.05)
        k = int(r.n_clusters)
        labels = SpectralClustering(n_clusters=k, affinity="precomputed", random_state=42,
                                    assign_labels="kmeans" if k >= 3 else "discretize"
                                    ).fit_predict(affinity)
        labels = median_filter(labels, size=5)
        np.savez(out_dir / f"{r.video_id}.npz", labels=labels, nodes=nodes)


IN_PROCESS = {"loop": run_loop, "notebook": run_notebook}


def run_in_fresh_process(name: str, config: Path, model: str, out_dir: Path) -> float:
    """Wall seconds of ``name`` in a new interpreter, from its start to its exit."""
    cmd = [sys.executable, __file__, "--in-process", name, "--config", str(config),
           "--model", model, "--out", str(out_dir)]
    start = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", choices=["hiero", "raw"], default="hiero")
    parser.add_argument("--cores", type=int, default=2)
    parser.add_argument("--shards", type=int, default=4)
    parser.add_argument("--limit", type=int, default=None,
                        help="max recordings per activity (default: all 384)")
    # internal: one contender in this (fresh) process
    parser.add_argument("--in-process", choices=sorted(IN_PROCESS), help=argparse.SUPPRESS)
    parser.add_argument("--config", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.in_process:
        IN_PROCESS[args.in_process](args.config, args.model, args.out)
        return

    from steploc.demo import write_demo_features
    from steploc.hiero.testing import write_random_checkpoint

    with tempfile.TemporaryDirectory(prefix="steploc-bench-") as tmp:
        tmp = Path(tmp)
        features = tmp / "synthetic_features"
        checkpoint = write_random_checkpoint(tmp / "hiero_RANDOM_WEIGHTS.pth")
        config = write_config(tmp, features, checkpoint, args.model, args.shards, args.limit)
        t0 = time.perf_counter()
        n = len(write_demo_features(yaml.safe_load(config.read_text()), features))
        print(f"generated {n} SYNTHETIC feature files in {time.perf_counter() - t0:.1f} s "
              f"(untimed); load {os.getloadavg()[0]:.1f}")

        for name in ("loop", "notebook", "pipe"):
            (tmp / name).mkdir()
        rows = {name: run_in_fresh_process(name, config, args.model, tmp / name)
                for name in ("notebook", "loop")}
        rows["pipeline"] = run_pipeline(tmp / "pipe", config, args.cores)
        changed = write_config(tmp, features, checkpoint, args.model, args.shards, args.limit,
                               temperature=0.1)
        rows["rerun"] = run_pipeline(tmp / "pipe", changed, args.cores)

    loop, notebook, pipeline = rows["loop"], rows["notebook"], rows["pipeline"]
    print(f"\n{n} videos, model {args.model}, one clustering setting, --cores {args.cores}, "
          f"{args.shards} shards; load {os.getloadavg()[0]:.1f}")
    print(f"{'run':<58} {'wall s':>7} {'/ loop':>7} {'/ notebook':>10}")
    names = {"notebook": "seed notebook's loop (sequential, library defaults)",
             "loop": "steploc's functions in one process (1 BLAS thread)",
             "pipeline": "the pipeline",
             "rerun": "rerun after a clustering-setting change"}
    for key in ("notebook", "loop", "pipeline", "rerun"):
        seconds = rows[key]
        print(f"{names[key]:<58} {seconds:7.1f} {seconds / loop:7.2f} {seconds / notebook:10.2f}")
    print(f"rerun / pipeline = {rows['rerun'] / pipeline:.2f} (target <= 0.6); "
          f"pipeline / loop = {pipeline / loop:.2f} (<= 1.3); "
          f"pipeline / notebook = {pipeline / notebook:.2f} (<= 0.5)")


if __name__ == "__main__":
    main()
