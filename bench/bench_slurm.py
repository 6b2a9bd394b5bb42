"""The demo through profiles/slurm on a throwaway local SLURM cluster, against a local run.

    python bench/bench_slurm.py [--reduced]

Needs root and the SLURM/munge Debian packages (.ci/install_slurm.sh). Both runs use the demo
config (12 videos, models raw and hiero_random, evaluation and report; --reduced: one video per
recipe) on SYNTHETIC features, in fresh working directories, in this one invocation. Prints the
number of SLURM jobs (sbatch calls), both wall times and their ratio, and whether the Parquet
outputs are identical. The cluster has one node with the machine's CPUs and one fake GPU.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.integration.conftest import STEPLOC_DEMO, _steploc  # noqa: E402
from tests.integration.slurm_cluster import slurm_cluster  # noqa: E402
from tests.integration.snakemake_runner import (  # noqa: E402
    PROFILES,
    collect_outputs,
    diff_outputs,
    make_test_profile,
    prepare_workdir,
    run_snakemake,
)
from tests.integration.test_slurm_profile import slurm_cli_args  # noqa: E402


def setup_full_demo(workdir: Path) -> None:
    """The demo config as shipped, with its features and checkpoint in the workdir."""
    configfile = workdir / "config" / "config.yaml"
    text = configfile.read_text().replace("dir: data/synthetic_features", "dir: features_synthetic")
    configfile.write_text(text)
    _steploc(workdir, "demo-features", "--configfile", str(configfile))
    _steploc(workdir, "demo-checkpoint", "--out", "data/demo_checkpoints/hiero_egovlp_RANDOM_WEIGHTS.pth")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reduced", action="store_true", help="one video per recipe (3)")
    args = parser.parse_args()
    spec = STEPLOC_DEMO
    if not args.reduced:
        spec = type(spec)(**{**spec.__dict__, "setup": setup_full_demo})
    with slurm_cluster() as cluster, tempfile.TemporaryDirectory(prefix="steploc-slurm-") as tmp:
        tmp = Path(tmp)
        # The shipped profile as it is, but for the test cluster's partition.
        profile = make_test_profile(PROFILES / "slurm", tmp / "profile",
                                    {"default-resources": {"slurm_partition": cluster.partition}})
        on_slurm = run_snakemake(prepare_workdir(spec, tmp / "slurm"), profile,
                                 slurm_cli_args(cluster), env=cluster.env, cluster=cluster,
                                 timeout=1800, verbose=True)
        local = run_snakemake(prepare_workdir(spec, tmp / "local"), PROFILES / "local",
                              ["--cores", str(cluster.cpus)], timeout=1800)
        if on_slurm.returncode or local.returncode:
            print(on_slurm.describe() if on_slurm.returncode else local.describe())
            return 1
        same = diff_outputs(collect_outputs(on_slurm.workdir, spec.compare_globs),
                            collect_outputs(local.workdir, spec.compare_globs)) == []
    name = "demo, one video per recipe" if args.reduced else "demo (12 videos)"
    print(f"\n{name}, models raw + hiero_random, {cluster.cpus} CPUs, 1 fake GPU")
    print(f"{'run':<42} {'SLURM jobs':>10} {'wall s':>8} {'/ local':>8}")
    print(f"{'snakemake --profile profiles/slurm':<42} {len(on_slurm.sbatch_calls):>10} "
          f"{on_slurm.seconds:8.1f} {on_slurm.seconds / local.seconds:8.2f}")
    print(f"{'snakemake --profile profiles/local':<42} {0:>10} {local.seconds:8.1f} {1:8.2f}")
    print(f"Parquet outputs identical: {same}")
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
