"""The procedure stage in the workflow (tiny hand-made annotations, SYNTHETIC features, see
conftest): its tables and figures exist, activity-level columns reach the overall table, and
changing only `procedure` settings reruns only this stage and what reads it."""

from __future__ import annotations

import pandas as pd
import pytest

from conftest import create_workdir, run_output, run_snakemake

from .workflow_helpers import planned_jobs

pytestmark = pytest.mark.slow

VIDEOS = ["1_7", "1_8", "1_70", "2_3", "2_30"]


@pytest.fixture(scope="module")
def done(tmp_path_factory):
    wd = create_workdir(tmp_path_factory.mktemp("procedure"), VIDEOS,
                        overrides={"procedure": {"k_strategy": "fixed", "k_fixed": 2,
                                                  "report_map": True}})
    proc = run_snakemake(wd, "--cores", "2")
    assert proc.returncode == 0, run_output(proc)
    return wd


def setting(wd) -> str:
    return next(iter(wd.config["clustering"]))


def test_procedure_tables_and_figures(done):
    base = done.path / "results" / "procedure" / "raw" / setting(done)
    steps = pd.read_parquet(base / "steps.parquet")
    segments = pd.read_parquet(done.path / "results" / "summary" / "raw" / setting(done)
                               / "segments.parquet")
    assert len(steps) == len(segments)  # every segment has a procedure step
    assert set(steps["step_id"]) <= {0, 1}
    clusters = pd.read_parquet(base / "clusters.parquet")
    assert clusters["description"].str.contains("purity").all()
    quality = pd.read_parquet(base / "quality.parquet")
    assert set(quality["activity_id"]) == set(steps["activity_id"])
    for activity in steps["activity_id"].unique():
        for kind in ("map", "strip"):
            figure = (done.path / "results" / "report" / "procedure" / "raw" / setting(done)
                      / f"{activity}.{kind}.png")
            assert figure.stat().st_size > 1000
    overall = pd.read_parquet(done.path / "results" / "metrics" / "overall.parquet")
    raw = overall.set_index(["model", "setting"]).loc[("raw", setting(done))]
    assert 0 <= raw["activity_level_mof"] <= 1 and raw["activity_level_activities"] >= 1
    assert overall.set_index("model").loc["uniform", "activity_level_mof"] != \
        overall.set_index("model").loc["uniform", "activity_level_mof"]  # NaN for baselines


def test_a_procedure_change_reruns_only_the_procedure_stage(done):
    variant = done.variant("procedure_k3", procedure={"k_fixed": 3})
    change = run_snakemake(done, "-n", "--cores", "2", configfile=variant)
    assert change.returncode == 0, run_output(change)
    rules = {rule for rule, _ in planned_jobs(change.stdout)}
    assert rules == {"procedure", "report_procedure", "evaluate_overall", "all"}, change.stdout
