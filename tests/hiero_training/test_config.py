"""The structured config: official defaults, dotlist overrides, YAML, validation."""

from __future__ import annotations

import pytest
from omegaconf import OmegaConf

from steploc.errors import InputError
from steploc.hiero.training import TrainingConfig, config_yaml, make_config


def test_defaults_are_the_official_recipe():
    cfg = make_config()
    assert (cfg.model.hidden_size, cfg.model.dropout, cfg.model.input_size) == (768, 0.1, 256)
    assert (cfg.task.features_size, cfg.task.text_size, cfg.task.temperature) == (768, 768, 0.05)
    tr = cfg.train
    assert (tr.lr, tr.weight_decay, tr.grad_clip, tr.batch_size) == (1e-5, 1e-5, 1.0, 8)
    assert (tr.num_epochs, tr.lr_warmup, tr.lr_warmup_epochs, tr.lr_min) == (15, True, 5, 1e-8)
    assert (tr.seed, tr.save_every, tr.reference_schedule) == (1234567891, 1000, False)
    assert cfg.data.part_seconds == 300.0


def test_structured_and_dotlist_overrides(tmp_path):
    schema = OmegaConf.structured(TrainingConfig)  # usable as a Hydra structured config
    assert schema.train.lr == 1e-5
    cfg = make_config(overrides=["train.lr=1e-4", "model.hidden_size=64",
                                 "train.reference_schedule=true", "task.text_model_weights=x.pth"])
    assert cfg.train.lr == 1e-4 and cfg.model.hidden_size == 64
    assert cfg.train.reference_schedule is True and cfg.task.text_model_weights == "x.pth"
    (tmp_path / "c.yaml").write_text("train:\n  batch_size: 4\nmodel:\n  dropout: 0.0\n")
    cfg = make_config(tmp_path / "c.yaml", ["train.batch_size=2"])
    assert cfg.train.batch_size == 2 and cfg.model.dropout == 0.0
    assert make_config({"train": {"seed": 3}}).train.seed == 3
    assert make_config(cfg) == cfg


def test_yaml_round_trip(tmp_path):
    cfg = make_config(overrides=["train.lr=3e-4", "data.shuffle=false"])
    (tmp_path / "c.yaml").write_text(config_yaml(cfg))
    assert make_config(tmp_path / "c.yaml") == cfg


@pytest.mark.parametrize("override,message", [
    ("train.lrr=1", "lrr"),
    ("train.batch_size=abc", "batch_size"),
    ("train.batch_size=0", "train.batch_size"),
    ("train.lr_warmup_epochs=15", "lr_warmup_epochs"),
    ("task.temperature=0", "task.temperature"),
    ("train.device=tpu", "train.device"),
    ("train.beta2=1.0", "train.beta2"),
])
def test_invalid_settings_are_refused(override, message):
    with pytest.raises(InputError, match=message):
        make_config(overrides=[override])


def test_missing_file():
    with pytest.raises(InputError, match="no such training config"):
        make_config("does/not/exist.yaml")
