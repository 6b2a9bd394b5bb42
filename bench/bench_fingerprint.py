"""Cost of the feature-file content fingerprints in the video table (parse time).

The 384 CaptainCook4D recordings on SYNTHETIC features (generated first, untimed). Times the
table build without fingerprints (the baseline, same run), with a cold cache (every file
hashed) and with a warm cache (stat only), and prints the ratios.

    python bench/bench_fingerprint.py [--repeats 3]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]


class _NoFingerprints:
    """The baseline: the table without content hashes."""

    def fingerprint(self, path) -> str:
        return ""

    def save(self) -> None:
        pass


def best_of(repeats: int, build) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        build()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    from steploc.demo import write_demo_features
    from steploc.fingerprint import FingerprintCache
    from steploc.params import build_params_table

    config = yaml.safe_load((REPO / "config/config.yaml").read_text())
    config["annotations"]["root"] = str(REPO / "data/captaincook4d")
    config["videos"] = {"activity_ids": [], "recording_ids": [], "max_per_activity": None}
    with tempfile.TemporaryDirectory(prefix="steploc-bench-fp-") as tmp:
        tmp = Path(tmp)
        config["features"]["dir"] = str(tmp / "features")
        n = len(write_demo_features(config, tmp / "features"))
        size_mb = sum(p.stat().st_size for p in (tmp / "features").iterdir()) / 1e6
        baseline = best_of(args.repeats, lambda: build_params_table(config, _NoFingerprints()))

        def cold():
            cache = FingerprintCache(tmp / "cold.json")
            build_params_table(config, cache)
            (tmp / "cold.json").unlink(missing_ok=True)

        cold_s = best_of(args.repeats, cold)
        warm_cache = tmp / "warm.json"
        primed = FingerprintCache(warm_cache)
        build_params_table(config, primed)
        primed.save()

        def warm():
            cache = FingerprintCache(warm_cache)
            build_params_table(config, cache)
            assert cache.hashed == 0

        warm_s = best_of(args.repeats, warm)

    print(f"{n} SYNTHETIC feature files, {size_mb:.0f} MB; best of {args.repeats}")
    print(f"{'video table build':<44} {'s':>7} {'/ baseline':>11}")
    for name, seconds in [("without fingerprints (baseline)", baseline),
                          ("fingerprints, cold cache (all hashed)", cold_s),
                          ("fingerprints, warm cache (stat only)", warm_s)]:
        print(f"{name:<44} {seconds:7.3f} {seconds / baseline:11.2f}")


if __name__ == "__main__":
    main()
