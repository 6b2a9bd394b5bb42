"""`python -m steploc check-checkpoint`: the by-hand validation of a HiERO checkpoint (the
workflow's hierarchy jobs validate with the same loader when they load it)."""

from __future__ import annotations

import json

from steploc.cli import main
from steploc.hiero.testing import write_random_checkpoint


def test_valid_checkpoint_writes_its_record(tmp_path):
    checkpoint = write_random_checkpoint(tmp_path / "hiero_RANDOM_WEIGHTS.pth")
    record = tmp_path / "record.json"
    assert main(["check-checkpoint", "--checkpoint", str(checkpoint), "--out", str(record)]) == 0
    written = json.loads(record.read_text())
    assert written["checkpoint"] == str(checkpoint)
    assert (written["input_size"], written["hidden_size"]) == (256, 32)
    assert written["parameters"] > 0


def test_bad_checkpoint_is_refused_naming_the_file_and_writes_nothing(tmp_path, caplog):
    bad = tmp_path / "not_a_checkpoint.pth"
    bad.write_text("this is a text file, not a checkpoint\n")
    record = tmp_path / "record.json"
    assert main(["check-checkpoint", "--checkpoint", str(bad), "--out", str(record)]) == 2
    assert "not_a_checkpoint.pth" in caplog.text
    assert "not a readable torch checkpoint" in caplog.text
    assert not record.exists()
