"""The workflow's train stage (``steploc.hiero.training.stage``, ``python -m steploc train``)
outside Snakemake: kill-and-resume through the stable state folder, a fresh start when the
run's inputs change, the checks of the given files, and row-naming narration errors.

Tiny hand-made annotations with SYNTHETIC block features (conftest) and SYNTHETIC narrations
(train_helpers); a few optimiser steps of a tiny model.
"""

from __future__ import annotations

import copy

import pandas as pd
import pytest
import torch

from conftest import TINY_RECORDINGS, create_workdir
from steploc.config import check_config, check_train_overrides, validate_config
from steploc.errors import InputError
from steploc.hiero import load_checkpoint
from steploc.hiero.training import STATE_NAME
from steploc.hiero.training.stage import INPUTS_NAME, run_train_stage
from steploc.video_table import build_video_table
from train_helpers import TINY_TRAIN_OVERRIDES, write_synthetic_narrations

VIDEOS = ["1_7", "1_8", "2_3"]
# 3 + 2 + 3 parts of 20 s = 8 samples -> 4 steps per epoch, 8 steps in 2 epochs
STEPS = 8


class Interrupted(Exception):
    """Stands in for a kill: raised from the step callback."""


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    root = tmp_path_factory.mktemp("train_stage")
    wd = create_workdir(root / "wd", VIDEOS)
    config = validate_config(copy.deepcopy(wd.config))
    table = build_video_table(config)
    durations = {v: float(TINY_RECORDINGS[v].n_features) for v in VIDEOS}
    narrations = write_synthetic_narrations(root / "narrations_synthetic.parquet", durations)
    return root, table, narrations


def run_config(narrations, *extra, **entries):
    return {"narrations": str(narrations), "vectors": None, "videos": None,
            "overrides": [*TINY_TRAIN_OVERRIDES, *extra], "init_checkpoint": None,
            "unknown_videos": "error", "outside": "error", **entries}


def stage(table, narrations, config, out, **kwargs):
    rows = table[table["status"] == "ok"].sort_values("video_id")
    features = kwargs.pop("features", rows["feature_path"].tolist())
    return run_train_stage(table, features, narrations, config, out / "state",
                           out / "checkpoint.pth", out / "metrics.parquet", out / "loss.png",
                           device="cpu", run_name="tiny", **kwargs)


def test_killed_run_resumes_from_the_state_folder(tiny):
    root, table, narrations = tiny
    config = run_config(narrations, "train.state_every=2")

    def kill_after_step_4(report):
        if report.step == 4:  # steps 0-4 ran; the state of step 4 (steps_done = 4) is saved
            raise Interrupted

    killed = root / "killed"
    with pytest.raises(Interrupted):
        stage(table, narrations, config, killed, callback=kill_after_step_4)
    assert torch.load(killed / "state" / STATE_NAME, weights_only=True)["steps_done"] == 4
    assert not (killed / "checkpoint.pth").exists()  # outputs only once training is done

    resumed = stage(table, narrations, config, killed)
    assert resumed.resumed_from == 4
    assert resumed.steps_done == resumed.total_steps == STEPS
    metrics = pd.read_parquet(killed / "metrics.parquet")
    assert metrics["step"].tolist() == list(range(STEPS))  # continues from the saved step
    assert metrics[["loss", "lr"]].notna().all().all()

    straight = stage(table, narrations, config, root / "straight")
    assert straight.resumed_from is None
    pd.testing.assert_frame_equal(metrics, pd.read_parquet(root / "straight" / "metrics.parquet"),
                                  rtol=1e-6)
    model = load_checkpoint(killed / "checkpoint.pth")
    assert (model.config.input_size, model.config.hidden_size) == (16, 16)
    assert (killed / "loss.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    # the same inputs again (a forced rerun): resumes at the end, trains nothing
    again = stage(table, narrations, config, killed)
    assert again.resumed_from == STEPS
    pd.testing.assert_frame_equal(pd.read_parquet(killed / "metrics.parquet"), metrics)


def test_changed_inputs_train_from_scratch(tiny):
    root, table, narrations = tiny
    out = root / "changed"
    stage(table, narrations, run_config(narrations, "train.max_steps=3"), out)
    assert (out / "state" / INPUTS_NAME).is_file()
    # another learning rate: the saved state is of another run, so it is not resumed
    result = stage(table, narrations, run_config(narrations, "train.max_steps=3",
                                                 "train.lr=5e-4"), out)
    assert result.resumed_from is None
    assert pd.read_parquet(out / "metrics.parquet")["lr"].iloc[0] == pytest.approx(5e-4)
    # only two of the videos: other data, a fresh start too (1_8's narrations are dropped)
    result = stage(table, narrations, run_config(narrations, "train.max_steps=3",
                                                 "train.lr=5e-4", videos=["1_7", "2_3"],
                                                 unknown_videos="drop"), out,
                   features=[p for p in sorted(table["feature_path"]) if "1_8" not in p])
    assert result.resumed_from is None
    assert result.data_report.n_videos == 2


def test_unknown_video_in_narrations_names_the_row(tiny):
    root, table, _ = tiny
    durations = {v: float(TINY_RECORDINGS[v].n_features) for v in VIDEOS}
    bad = write_synthetic_narrations(root / "bad_narrations_synthetic.parquet", durations,
                                     extra=[("ghost_video", 1.0)])
    n_rows = len(pd.read_parquet(bad))
    with pytest.raises(InputError, match=rf"narration row {n_rows - 1} \(video_id "
                                         r"'ghost_video', time_s 1\.0\): unknown video id"):
        stage(table, bad, run_config(bad), root / "bad")


def test_feature_files_must_be_the_video_tables(tiny):
    root, table, narrations = tiny
    paths = sorted(table["feature_path"])
    with pytest.raises(InputError, match="is not the video table's"):
        stage(table, narrations, run_config(narrations), root / "swapped",
              features=[paths[1], paths[0], paths[2]])
    with pytest.raises(InputError, match="3 videos of the train run"):
        stage(table, narrations, run_config(narrations), root / "short", features=paths[:2])
    with pytest.raises(InputError, match="not in the video table"):
        stage(table, narrations, run_config(narrations, videos=["9_9"]), root / "unknown")


def test_cli_runs_the_stage(tiny, tmp_path):
    import json

    from steploc.cli import main

    root, table, narrations = tiny
    table_path = tmp_path / "video_table.parquet"
    table.to_parquet(table_path, index=False)
    rows = table.sort_values("video_id")
    args = ["train", "--video-table", str(table_path), "--features",
            *rows["feature_path"].tolist(), "--narrations", str(narrations), "--run-name", "cli",
            "--run-config", json.dumps(run_config(narrations, "train.max_steps=2")),
            "--device", "cpu", "--state-dir", str(tmp_path / "state"),
            "--checkpoint-out", str(tmp_path / "out" / "checkpoint.pth"),
            "--metrics-out", str(tmp_path / "out" / "metrics.parquet"),
            "--figure-out", str(tmp_path / "out" / "loss.png")]
    assert main(args) == 0
    assert pd.read_parquet(tmp_path / "out" / "metrics.parquet")["step"].tolist() == [0, 1]
    assert (tmp_path / "state" / STATE_NAME).is_file()
    # an init checkpoint named by the run config but not given is refused
    config = run_config(narrations, init_checkpoint="somewhere.pth")
    args[args.index("--run-config") + 1] = json.dumps(config)
    assert main(args) == 2


def test_config_checks_of_train_runs(tiny):
    _, _, narrations = tiny

    def config_with(overrides):
        return {"train": {"runs": {"tiny": {"narrations": str(narrations),
                                            "overrides": overrides}}}}

    with pytest.raises(InputError, match=r"train.runs.tiny.overrides\[0\] is 'lr'"):
        check_config(config_with(["lr"]))
    with pytest.raises(InputError, match="use train.runs.tiny.init_checkpoint instead"):
        check_config(config_with(["train.init_from=x.pth"]))
    check_config(config_with(["train.lr=1e-4"]))
    with pytest.raises(InputError, match=r"train.runs.tiny.overrides: .*no_such_key"):
        check_train_overrides(config_with(["train.no_such_key=1"]))
    with pytest.raises(InputError, match=r"train.runs.tiny.overrides: .*lr_warmup_epochs"):
        check_train_overrides(config_with(["train.num_epochs=2"]))
    check_train_overrides(config_with(TINY_TRAIN_OVERRIDES))


def test_loss_figure(tmp_path):
    from steploc.report.train_figures import plot_training_curves

    metrics = pd.DataFrame({"step": range(5), "loss": [5.0, 4.0, 3.5, 3.0, 2.9],
                            "vna": [4.5, 3.6, 3.2, 2.8, 2.7], "ft": [0.5, 0.4, 0.3, 0.2, 0.2],
                            "lr": [1e-5, 8e-6, 5e-6, 2e-6, 1e-8]})
    plot_training_curves(metrics, tmp_path / "loss.png", title="SYNTHETIC")
    plot_training_curves(pd.DataFrame(), tmp_path / "empty.png")
    for name in ("loss.png", "empty.png"):
        assert (tmp_path / name).read_bytes()[:4] == b"\x89PNG"
    with pytest.raises(ValueError, match="lr"):
        plot_training_curves(metrics.drop(columns="lr"), tmp_path / "bad.png")
