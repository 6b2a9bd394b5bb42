"""Benchmark of steploc's HiERO: depth-2 extraction vs the full forward, and a batch job.

One run times, per device (CPU with a fixed thread count; CUDA when available):

1. ``model.extract(x, depth=2)`` (projection, encoder, ``down_stages.0`` only) against the full
   forward ``model.extract_levels(x)`` for T in {250, 1000, 2000, 8000}, at full egovlp width
   (hidden 768, input 256), median of several runs after a warm-up;
2. a 384-video batch job with the CaptainCook4D video lengths (``duration(sec)`` of
   ``data/captaincook4d/metadata/video_information.csv``, 1 feature/s, T = ceil(duration)), run with
   ``model.extract_batch`` (several videos per forward).

The weights are RANDOM (``steploc.hiero.testing.random_model``): timing does not depend on them.
The reference figures printed for comparison are docs/hiero.md §1.15's measurements of the reference
implementation (another run, same kind of 2-core machine), not measured here.

Usage: ``python bench/bench_hiero.py [--device auto|cpu|cuda] [--quick] [--threads 2]``
"""

from __future__ import annotations

import argparse
import math
import os
import statistics
import sys
import time
from pathlib import Path

import torch

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT / "src"))

from steploc.hiero.testing import random_model  # noqa: E402

LENGTHS = (250, 1000, 2000, 8000)
QUICK_LENGTHS = (250, 2000)
DURATIONS_CSV = REPO_ROOT / "data" / "captaincook4d" / "metadata" / "video_information.csv"
# docs/hiero.md §1.15 / fixture README: reference full forward, 2 CPU threads, median of 5 after 1 warm-up,
# three separate runs
REFERENCE_FULL_FORWARD_CPU_S = {500: "0.105-0.119", 2000: "0.337-0.354", 8000: "1.57-2.33"}


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def timed_seconds(function, device: torch.device, repeats: int, warmup: int = 1) -> tuple[float, float]:
    """(median, min) wall time of ``repeats`` calls after ``warmup`` calls."""
    for _ in range(warmup):
        function()
    synchronize(device)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        synchronize(device)
        times.append(time.perf_counter() - start)
    return statistics.median(times), min(times)


def captaincook_lengths(limit: int | None) -> list[int]:
    import pandas as pd

    durations = pd.read_csv(DURATIONS_CSV)["duration(sec)"].to_numpy()
    lengths = [int(math.ceil(d)) for d in durations]
    return lengths[:limit] if limit else lengths


def bench_lengths(model, device: torch.device, lengths, repeats: int) -> list[dict]:
    rows = []
    generator = torch.Generator().manual_seed(0)
    for length in lengths:
        x = torch.randn(length, 256, generator=generator).to(device)
        depth2 = timed_seconds(lambda x=x: model.extract(x, depth=2), device, repeats)
        full = timed_seconds(lambda x=x: model.extract_levels(x), device, repeats)
        rows.append({"T": length, "depth2": depth2, "full": full})
    return rows


def bench_batch_job(model, device: torch.device, lengths: list[int], max_nodes: int, one_by_one: bool) -> dict:
    generator = torch.Generator().manual_seed(1)
    videos = [torch.randn(length, 256, generator=generator) for length in lengths]
    model.extract_batch(videos[:4], max_nodes_per_forward=max_nodes)  # warm-up
    synchronize(device)
    start = time.perf_counter()
    outputs = model.extract_batch(videos, depth=2, max_nodes_per_forward=max_nodes)
    outputs = [out.cpu() for out in outputs]  # a real job takes the features off the device
    synchronize(device)
    batched = time.perf_counter() - start
    result = {"videos": len(videos), "rows": sum(lengths), "batched": batched, "one_by_one": None}
    if one_by_one:
        start = time.perf_counter()
        for x in videos:
            model.extract(x, depth=2).cpu()
        synchronize(device)
        result["one_by_one"] = time.perf_counter() - start
    return result


def print_device_report(device: torch.device, threads: int, rows: list[dict], job: dict) -> None:
    if device.type == "cuda":
        label = f"cuda ({torch.cuda.get_device_name(device)})"
    else:
        label = f"cpu ({threads} threads, load average before/after {job['load']})"
    print(f"\n== {label}: per-video latency, full width (hidden 768), seconds: median (min) ==")
    print(
        f"{'T':>6} | {'extract(depth=2)':>17} | {'full forward':>17} | {'d2/full':>7} | "
        "reference full forward (docs/hiero.md §1.15, CPU 2 threads, median of 5, 3 runs)"
    )
    for row in rows:
        reference = REFERENCE_FULL_FORWARD_CPU_S.get(row["T"], "-") if device.type == "cpu" else "-"
        (d2, d2_min), (full, full_min) = row["depth2"], row["full"]
        print(
            f"{row['T']:>6} | {d2:>8.4f} ({d2_min:.4f}) | {full:>8.4f} ({full_min:.4f}) | "
            f"{d2 / full:>7.2f} | {reference}"
        )
    print(
        f"batch job: {job['videos']} CaptainCook4D-length videos, {job['rows']} feature rows, depth 2: "
        f"batched {job['batched']:.2f} s = {job['videos'] / job['batched']:.1f} videos/s = "
        f"{job['rows'] / job['batched']:.0f} rows/s"
    )
    if job["one_by_one"] is not None:
        print(
            f"           one video per forward: {job['one_by_one']:.2f} s "
            f"(batched speed-up x{job['one_by_one'] / job['batched']:.2f})"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto",
                        help="auto: CPU, then CUDA when available")
    parser.add_argument("--quick", action="store_true", help="T in {250, 2000}, 2 repeats, 48 videos")
    parser.add_argument("--threads", type=int, default=2, help="CPU threads (torch.set_num_threads)")
    parser.add_argument("--repeats", type=int, default=None, help="timed runs per point (default 5, quick 2)")
    parser.add_argument("--max-nodes", type=int, default=None,
                        help="input rows per batched forward (default 65536 on CPU, 524288 on CUDA)")
    args = parser.parse_args()

    torch.set_num_threads(args.threads)
    if args.device == "cuda" and not torch.cuda.is_available():
        parser.error("--device cuda: CUDA is not available")
    devices = [torch.device("cpu")] if args.device in ("auto", "cpu") else []
    if args.device == "cuda" or (args.device == "auto" and torch.cuda.is_available()):
        devices.append(torch.device("cuda"))
    lengths = QUICK_LENGTHS if args.quick else LENGTHS
    repeats = args.repeats or (2 if args.quick else 5)
    job_lengths = captaincook_lengths(48 if args.quick else None)

    print(f"steploc HiERO benchmark: torch {torch.__version__}, RANDOM weights (timing only), "
          f"{'quick' if args.quick else 'full'} mode, {repeats} timed runs after 1 warm-up")
    model = random_model()
    for device in devices:
        model.to(device)
        max_nodes = args.max_nodes or (524288 if device.type == "cuda" else 65536)
        load_before = os.getloadavg()[0]
        rows = bench_lengths(model, device, lengths, repeats)
        job = bench_batch_job(model, device, job_lengths, max_nodes, one_by_one=not args.quick)
        job["load"] = f"{load_before:.1f}/{os.getloadavg()[0]:.1f}"  # >threads: shared, noisy timings
        print_device_report(device, args.threads, rows, job)
    if not torch.cuda.is_available():
        print("\nCUDA: not available on this machine, skipped")


if __name__ == "__main__":
    main()
