"""Kill-and-resume: a run SIGKILLed after a saved state resumes and ends exactly where an
uninterrupted run ends (weights, Adam state and per-step losses bit for bit), dropout included.

All three runs are subprocesses with one torch thread, so they do the same arithmetic. The
killed run blocks in its step callback (after the state of step 4 was saved, during step 5) and
is killed there with SIGKILL; no timing is asserted.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pandas as pd
import pytest
import torch

from steploc.errors import InputError
from steploc.hiero.training import STATE_NAME, train
from steploc.hiero.training.checkpoint import save_atomic, torch_save_atomic
from steploc.hiero.training.synthetic import synthetic_narrated_dataset

OVERRIDES = [
    "model.input_size=32", "model.hidden_size=16", "model.pos_hidden_channels=8",
    "model.dropout=0.1", "task.features_size=8", "task.text_size=32", "train.batch_size=2",
    "train.num_epochs=2", "train.lr=1e-3", "train.lr_warmup=false", "train.state_every=2",
    "train.save_every=3", "train.seed=11",
]
CHILD = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    import torch
    torch.set_num_threads(1)
    from steploc.hiero.training import train
    from steploc.hiero.training.synthetic import synthetic_narrated_dataset

    resume, out, block_at = sys.argv[1], Path(sys.argv[2]), int(sys.argv[3])
    overrides = sys.argv[4:]
    data = synthetic_narrated_dataset(n_videos=8, seed=3)

    def callback(report):
        if report.step == block_at:
            (out / "BLOCKED").write_text(str(report.step))
            time.sleep(3600)  # "hangs" here until killed

    result = train(None, data.videos, data.narrations, out, overrides=overrides,
                   resume={"true": True, "false": False}[resume], callback=callback)
    print("DONE", result.steps_done, result.resumed_from)
    """
)


def _run(script: Path, resume: str, out: Path, block_at: int = -1) -> subprocess.Popen:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    return subprocess.Popen(
        [sys.executable, str(script), resume, str(out), str(block_at), *OVERRIDES],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
    )


def _finish(process: subprocess.Popen) -> str:
    stdout, stderr = process.communicate(timeout=600)
    assert process.returncode == 0, stderr
    return stdout


def _state(out: Path) -> dict:
    return torch.load(out / STATE_NAME, weights_only=True)


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("resume")
    script = root / "child.py"
    script.write_text(CHILD)
    straight, killed = root / "straight", root / "killed"
    killed.mkdir()
    uninterrupted = _run(script, "false", straight)
    victim = _run(script, "false", killed, block_at=4)
    deadline = time.monotonic() + 600  # a safety net, not an assertion on speed
    while not (killed / "BLOCKED").exists():
        assert victim.poll() is None, victim.communicate()[1]
        assert time.monotonic() < deadline, "the run to be killed never reached step 4"
        time.sleep(0.1)
    victim.send_signal(signal.SIGKILL)
    victim.wait(timeout=60)
    assert victim.returncode == -signal.SIGKILL
    state_at_kill = _state(killed)
    resumed_output = _finish(_run(script, "true", killed))
    _finish(uninterrupted)
    return straight, killed, state_at_kill, resumed_output


def test_killed_run_had_saved_step_4(runs):
    _, killed, state_at_kill, resumed_output = runs
    assert state_at_kill["steps_done"] == 4  # steps 0-4 ran; step 4's state was not saved yet
    assert "DONE 8 4" in resumed_output
    assert not list(killed.glob(".*.tmp"))


def test_resumed_run_equals_uninterrupted(runs):
    straight, killed, _, _ = runs
    a, b = _state(straight), _state(killed)
    assert a["steps_done"] == b["steps_done"] == 8
    for section in ("model", "task"):
        for key, value in a[section].items():
            assert torch.equal(value, b[section][key]), (section, key)
    for i, state in a["optimizer"]["state"].items():
        for key, value in state.items():
            assert torch.equal(value, b["optimizer"]["state"][i][key]), (i, key)
    metrics_a = pd.read_parquet(straight / "metrics.parquet")
    metrics_b = pd.read_parquet(killed / "metrics.parquet")
    assert metrics_a["step"].tolist() == list(range(8))
    pd.testing.assert_frame_equal(metrics_a, metrics_b, check_exact=True)
    ck_a = torch.load(straight / "model.pth", weights_only=False)
    ck_b = torch.load(killed / "model.pth", weights_only=False)
    for key, value in ck_a["model"].items():
        assert torch.equal(value, ck_b["model"][key])
    assert ck_a["scheduler"] == ck_b["scheduler"]


def test_dropout_was_active(runs):
    """Sanity of the design: with dropout 0.1 the RNG state matters for exact resumption."""
    straight, _, _, _ = runs
    assert "torch" in _state(straight)["rng"]


def test_resume_refuses_changed_config_or_data(tmp_path):
    data = synthetic_narrated_dataset(n_videos=4, seed=5)
    short = [*OVERRIDES, "train.max_steps=2"]
    train(None, data.videos, data.narrations, tmp_path, overrides=short)
    with pytest.raises(InputError, match="train.lr"):
        train(None, data.videos, data.narrations, tmp_path, overrides=[*short, "train.lr=1e-4"],
              resume=True)
    other = synthetic_narrated_dataset(n_videos=4, seed=6)
    with pytest.raises(InputError, match="training data"):
        train(None, other.videos, other.narrations, tmp_path, overrides=short, resume=True)
    with pytest.raises(InputError, match="no training state"):
        train(None, data.videos, data.narrations, tmp_path / "empty", overrides=short,
              resume=True)
    # a finished run resumed with a larger budget continues; "auto" finds the state
    result = train(None, data.videos, data.narrations, tmp_path,
                   overrides=[*OVERRIDES, "train.max_steps=3"])
    assert result.resumed_from == 2 and result.steps_done == 3 and len(result.metrics) == 3


def test_atomic_write_keeps_the_old_file(tmp_path, monkeypatch):
    target = tmp_path / "model.pth"
    torch_save_atomic({"v": 1}, target)

    def broken(obj, path):
        Path(path).write_bytes(b"partial")
        raise OSError("disk full")

    monkeypatch.setattr(torch, "save", broken)
    with pytest.raises(OSError):
        torch_save_atomic({"v": 2}, target)
    monkeypatch.undo()
    assert torch.load(target, weights_only=True) == {"v": 1}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.pth"]

    def no_replace(src, dst):
        raise OSError("replace failed")

    monkeypatch.setattr(os, "replace", no_replace)
    with pytest.raises(OSError):
        save_atomic(target, lambda tmp: tmp.write_bytes(b"new"))
    monkeypatch.undo()
    assert torch.load(target, weights_only=True) == {"v": 1}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.pth"]
