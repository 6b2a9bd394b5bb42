"""The train stage in the workflow: a train run whose checkpoint a model uses (train ->
hierarchy), incremental reruns, row-naming narration errors, parse-time
checks, and the stable state folder that survives Snakemake's deletion of a job's outputs.

Tiny hand-made annotations with SYNTHETIC block features (conftest) and SYNTHETIC narrations
(train_helpers); a tiny model trained for 8 steps. The completed run is shared by the tests.
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest

from conftest import TINY_RECORDINGS, create_workdir, run_output, run_snakemake
from train_helpers import TINY_TRAIN_OVERRIDES, write_synthetic_narrations

from .workflow_helpers import plan, planned_jobs

pytestmark = pytest.mark.slow

VIDEOS = ["1_7", "1_8", "2_3"]
STEPS = 8  # 3 + 2 + 3 parts of 20 s, batch 2, 2 epochs
CHECKPOINT = "results/train/tiny/checkpoint.pth"
RUN = ("--cores", "2", "--resources", "gpu=1")


def train_config(narrations, **run):
    return {
        "models": {"trained": {"type": "hiero", "checkpoint": CHECKPOINT, "depth": 2,
                               "positions": "seconds"}},
        "train": {"runs": {"tiny": {"narrations": str(narrations),
                                    "overrides": list(TINY_TRAIN_OVERRIDES), **run}}},
        "evaluation": {"enabled": False},
        "procedure": {"enabled": False},
        "batching": {"shards": 1},  # one hierarchy and one segment job per model
        "resources": {"train": {"threads": 1, "mem_mb": 1000, "runtime": 10}},
    }


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    root = tmp_path_factory.mktemp("train_wf")
    durations = {v: float(TINY_RECORDINGS[v].n_features) for v in VIDEOS}
    narrations = write_synthetic_narrations(root / "narrations_synthetic.parquet", durations)
    wd = create_workdir(root / "wd", VIDEOS, overrides=train_config(narrations))
    proc = run_snakemake(wd, *RUN)
    assert proc.returncode == 0, run_output(proc)
    return wd, narrations, proc


def test_trained_checkpoint_is_used_by_its_model(trained):
    from steploc.features import load_features
    from steploc.hierarchy import build_model
    from steploc.hiero import load_checkpoint
    from steploc.intermediate import read_hierarchy

    wd, _, proc = trained
    results = wd.path / "results"
    checkpoint = wd.path / CHECKPOINT
    model = load_checkpoint(checkpoint)  # the safe loader
    assert (model.config.input_size, model.config.hidden_size) == (16, 16)

    metrics = pd.read_parquet(results / "train" / "tiny" / "metrics.parquet")
    assert metrics["step"].tolist() == list(range(STEPS))  # one row per step
    assert np.isfinite(metrics["loss"]).all() and (metrics["lr"] > 0).all()
    figure = results / "report" / "train" / "tiny.loss.png"
    assert figure.read_bytes()[:4] == b"\x89PNG"
    assert (results / "train" / "tiny" / "state" / "train_state.pt").is_file()

    # the order: train -> hierarchy(trained), on the trained weights: its nodes are theirs
    table = pd.read_parquet(results / "video_table.parquet").set_index("video_id")
    for shard in set(table.loc[table["status"] == "ok", "shard"]):
        nodes_file = results / "hierarchy" / "trained" / f"{shard}.nodes.parquet"
        assert checkpoint.stat().st_mtime_ns <= nodes_file.stat().st_mtime_ns
    reference = build_model("hiero", 2, feature_dim=16, checkpoint=str(checkpoint),
                            positions="seconds", device="cpu")
    for vid in VIDEOS:
        base = results / "hierarchy" / "trained" / table.at[vid, "shard"]
        nodes = read_hierarchy(f"{base}.nodes.parquet", f"{base}.videos.parquet")[vid]
        x = load_features(table.at[vid, "feature_path"])
        expected = reference.extract_batch([x], [float(table.at[vid, "feature_period_s"])])[0]
        np.testing.assert_allclose(np.asarray(nodes.features), expected, rtol=1e-5, atol=1e-6)
    assert (results / "summary" / "trained" / "fast" / "segments.parquet").is_file()
    log = (wd.path / "logs" / "train" / "tiny.log").read_text()
    assert f"{STEPS} of {STEPS} steps done (fresh)" in log, log

    # a second run has nothing to do (the run's params are stable)
    dry = run_snakemake(wd, "-n")
    assert dry.returncode == 0 and "Nothing to be done" in dry.stdout, run_output(dry)


def test_changed_overrides_retrain_and_rerun_only_that_model(trained):
    wd, narrations, _ = trained
    changed = train_config(narrations)
    changed["train"]["runs"]["tiny"]["overrides"].append("train.lr=5e-4")
    proc = run_snakemake(wd, "-n", configfile=wd.variant("lr", **changed))
    assert proc.returncode == 0, run_output(proc)
    jobs = planned_jobs(proc.stdout)
    stats = plan(proc.stdout)
    assert stats["train"] == 1, stats
    models = {w.get("model") for rule, w in jobs if rule in ("hierarchy", "segment", "summarize")}
    assert models == {"trained"}, jobs
    assert stats["hierarchy"] == stats["segment"] == stats["summarize"] == 1, stats


@pytest.mark.parametrize(("device", "gpus"), [(None, 0), ("cuda", 1)])
def test_train_job_claims_a_gpu_only_for_cuda(trained, device, gpus):
    """device: cpu (the tiny config): gpu=0; a train.device=cuda override: gpu=1 (dry run)."""
    wd, narrations, _ = trained
    config = train_config(narrations)
    if device:
        config["train"]["runs"]["tiny"]["overrides"].append(f"train.device={device}")
    proc = run_snakemake(wd, "-n", "-F", "--cores", "1", CHECKPOINT,
                         configfile=wd.variant("gpu", **config))
    assert proc.returncode == 0, run_output(proc)
    block = proc.stdout[proc.stdout.index("rule train:"):]
    block = block[:block.index("\n\n")]
    assert re.search(rf"\bgpu={gpus}\b", block), block


def test_unknown_video_in_narrations_fails_naming_the_row(trained):
    wd, _, _ = trained
    durations = {v: float(TINY_RECORDINGS[v].n_features) for v in VIDEOS}
    bad = write_synthetic_narrations(wd.path / "bad_narrations_synthetic.parquet", durations,
                                     extra=[("2_30", 2.0)])
    row = len(pd.read_parquet(bad)) - 1
    config = train_config(bad)
    config["train"]["runs"]["bad"] = config["train"]["runs"].pop("tiny")  # next to "tiny"
    proc = run_snakemake(wd, "--cores", "1", "results/train/bad/checkpoint.pth",
                         configfile=wd.variant("bad", **config))
    assert proc.returncode != 0, run_output(proc)
    log = (wd.path / "logs" / "train" / "bad.log").read_text()
    assert f"narration row {row} (video_id '2_30', time_s 2.0): unknown video id" in log, log
    assert not (wd.path / "results" / "train" / "bad" / "checkpoint.pth").exists()


@pytest.mark.parametrize(("run", "message"), [
    ({"videos": ["1_7", "9_9"]}, "train.runs.tiny.videos: video '9_9' cannot be trained on"),
    ({"overrides": ["train.no_such_key=1"]}, "train.runs.tiny.overrides: invalid training"),
    ({"overrides": ["train.init_from=x.pth"]}, "use train.runs.tiny.init_checkpoint instead"),
])
def test_bad_train_runs_fail_at_parse_time(trained, run, message):
    wd, narrations, _ = trained
    proc = run_snakemake(wd, "-n", configfile=wd.variant("parse", **train_config(narrations,
                                                                                **run)))
    assert proc.returncode != 0 and message in run_output(proc), run_output(proc)


def test_model_needs_a_configured_run_for_a_missing_checkpoint(trained):
    wd, narrations, _ = trained
    config = train_config(narrations)
    config["models"]["trained"]["checkpoint"] = "results/train/other/checkpoint.pth"
    proc = run_snakemake(wd, "-n", configfile=wd.variant("other", **config))
    assert proc.returncode != 0, run_output(proc)
    assert "models.trained.checkpoint: file 'results/train/other/checkpoint.pth' not found" \
        in run_output(proc)


def test_workflow_with_a_train_run_passes_lint(trained):
    wd, _, _ = trained
    proc = run_snakemake(wd, "--lint")
    assert proc.returncode == 0, run_output(proc)
    assert "Congratulations, your workflow is in a good condition" in proc.stdout + proc.stderr


def test_state_folder_survives_a_rerun(trained):
    """Snakemake deletes a job's outputs before it runs; the state folder is not one, so a
    rerun of the job (here forced; after a kill, `--rerun-incomplete`) resumes from it."""
    wd, _, _ = trained
    proc = run_snakemake(wd, "--forcerun", "train", "--cores", "1", CHECKPOINT)
    assert proc.returncode == 0, run_output(proc)
    log = (wd.path / "logs" / "train" / "tiny.log").read_text()
    assert f"{STEPS} of {STEPS} steps done (resumed at {STEPS})" in log, log
    metrics = pd.read_parquet(wd.path / "results" / "train" / "tiny" / "metrics.parquet")
    assert metrics["step"].tolist() == list(range(STEPS))
