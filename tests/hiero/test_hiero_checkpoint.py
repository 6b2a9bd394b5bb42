"""Safe loading of train.py checkpoints, and the RANDOM-weights checkpoint writer."""

from __future__ import annotations

import os
import pickle
from pathlib import Path

import pytest
import torch
from omegaconf import DictConfig, OmegaConf, open_dict

from steploc.hiero import CheckpointError, HiERO, load_checkpoint, read_checkpoint
from steploc.hiero.testing import RANDOM_WEIGHTS_NOTE, write_random_checkpoint

TOP_LEVEL_KEYS = ["model", "task", "optimizer", "warmup_scheduler", "scheduler", "step", "config"]


@pytest.fixture(scope="module")
def random_checkpoint(tmp_path_factory) -> Path:
    return write_random_checkpoint(tmp_path_factory.mktemp("hiero") / "hiero_RANDOM_weights.pth")


@pytest.fixture
def trusted(random_checkpoint) -> dict:
    """The checkpoint we wrote ourselves, read with the stock unpickler to build bad variants."""
    return torch.load(random_checkpoint, weights_only=False)


def save(checkpoint, tmp_path: Path, name: str = "bad.pth") -> Path:
    path = tmp_path / name
    torch.save(checkpoint, path)
    return path


# ------------------------------------------------------------------------------ happy paths
def test_loads_the_fixture_checkpoint(tiny_model, fixture_checkpoint):
    assert isinstance(tiny_model, HiERO) and not tiny_model.training
    config = tiny_model.config
    assert (config.input_size, config.hidden_size, config.pos_hidden_channels) == (256, 32, 16)
    assert (config.n_layers, config.depth, config.radius, config.n_clusters) == (3, 3, 1.0, 4)
    raw = torch.load(fixture_checkpoint, weights_only=False)["model"]  # trusted fixture file
    ours = tiny_model.state_dict()
    assert list(ours) == list(raw)
    assert all(torch.equal(ours[key], raw[key]) for key in raw)


def test_read_checkpoint_gives_a_plain_config(fixture_checkpoint):
    checkpoint = read_checkpoint(fixture_checkpoint)
    assert list(checkpoint) == TOP_LEVEL_KEYS
    config = checkpoint["config"]
    assert type(config) is dict and config["features"]["size"] == 256
    assert config["model"]["conv"]["in_channels"] == "${model.hidden_size}"  # unresolved as stored


def test_random_checkpoint_has_the_train_py_format(random_checkpoint, trusted, fixture_checkpoint):
    assert "RANDOM" in random_checkpoint.name
    assert list(trusted) == TOP_LEVEL_KEYS and trusted["step"] == 1000
    config = trusted["config"]
    assert isinstance(config, DictConfig) and OmegaConf.is_struct(config)
    raw = OmegaConf.to_container(config, resolve=False)
    assert raw["model"]["conv"]["in_channels"] == "${model.hidden_size}"
    assert raw["task"]["input_size"] == "${model.hidden_size}"
    assert raw["note"] == RANDOM_WEIGHTS_NOTE and "RANDOM WEIGHTS" in raw["note"]
    assert len(trusted["optimizer"]["state"]) == 168
    assert [len(g["params"]) for g in trusted["optimizer"]["param_groups"]] == [73, 95]
    # default widths and seed reproduce the fixture's model weights exactly
    fixture_model = torch.load(fixture_checkpoint, weights_only=False)["model"]
    assert list(trusted["model"]) == list(fixture_model)
    assert all(torch.equal(trusted["model"][k], fixture_model[k]) for k in fixture_model)
    model = load_checkpoint(random_checkpoint)
    assert model.config.hidden_size == 32


def test_load_to_device_and_position_convention(random_checkpoint):
    model = load_checkpoint(random_checkpoint, device="cpu", positions="seconds", feature_period=1.0)
    assert model.device.type == "cpu" and model.positions == "seconds" and model.feature_period == 1.0


# ------------------------------------------------------------------------------ code execution
class _RunsCode:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_pickled_code_is_refused_and_not_run(tmp_path, trusted):
    marker = tmp_path / "pwned"
    trusted["config"] = _RunsCode(marker)
    path = save(trusted, tmp_path)
    with pytest.raises(CheckpointError, match=r"system") as error:
        load_checkpoint(path)
    assert str(path) in str(error.value) and "refused" in str(error.value)
    assert not marker.exists()


def test_plain_pickle_with_code_is_refused_and_not_run(tmp_path):
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.pkl"
    path.write_bytes(pickle.dumps(_RunsCode(marker), protocol=2))
    with pytest.raises(CheckpointError, match="system"):
        load_checkpoint(path)
    assert not marker.exists()


@pytest.mark.parametrize("dangerous", ["eval", "exec", "getattr", "__import__"])
def test_dangerous_builtins_are_refused(tmp_path, dangerous):
    payload = b"\x80\x02c__builtin__\n" + dangerous.encode() + b"\nX\x01\x00\x00\x001\x85R."
    path = tmp_path / "builtin.pkl"
    path.write_bytes(payload)
    with pytest.raises(CheckpointError, match=dangerous):
        load_checkpoint(path)


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # torch.jit is deprecated
def test_torchscript_archives_are_refused(tmp_path):
    path = tmp_path / "scripted.pth"
    torch.jit.save(torch.jit.script(torch.nn.Linear(2, 2)), path)
    with pytest.raises(CheckpointError, match="TorchScript"):
        load_checkpoint(path)


# ------------------------------------------------------------------------------ config
@pytest.mark.parametrize(
    ("node", "value"),
    [("model", "os.system"), ("model", "builtins.eval"), ("model.conv", "torch_geometric.nn.GCNConv")],
)
def test_target_injection_is_refused(tmp_path, trusted, node, value):
    with open_dict(trusted["config"]):
        OmegaConf.update(trusted["config"], f"{node}._target_", value)
    with pytest.raises(CheckpointError, match=rf"{node}\._target_ is '{value}'"):
        load_checkpoint(save(trusted, tmp_path))


def test_unsupported_model_variants_are_refused(tmp_path, trusted):
    trusted["config"].model.pool = "max"
    with pytest.raises(CheckpointError, match="model.pool"):
        load_checkpoint(save(trusted, tmp_path))


def test_unresolvable_interpolation_is_refused(tmp_path, trusted):
    trusted["config"].model.conv.in_channels = "${model.width}"
    with pytest.raises(CheckpointError, match="model.width"):
        load_checkpoint(save(trusted, tmp_path))


def test_resolver_interpolation_is_refused(tmp_path, trusted):
    trusted["config"].model.hidden_size = "${oc.env:HIDDEN}"
    with pytest.raises(CheckpointError, match="resolver"):
        load_checkpoint(save(trusted, tmp_path))


# ------------------------------------------------------------------------------ state dict
def test_missing_key_is_named(tmp_path, trusted):
    del trusted["model"]["down_stages.2.module_6.bias"]
    with pytest.raises(CheckpointError, match=r"missing keys \['down_stages\.2\.module_6\.bias'\]"):
        load_checkpoint(save(trusted, tmp_path))


def test_renamed_key_is_named(tmp_path, trusted):
    trusted["model"]["up_stages.0.module_1.lin_relx.weight"] = trusted["model"].pop(
        "up_stages.0.module_1.lin_rel.weight"
    )
    with pytest.raises(CheckpointError) as error:
        load_checkpoint(save(trusted, tmp_path))
    assert "missing keys ['up_stages.0.module_1.lin_rel.weight']" in str(error.value)
    assert "unexpected keys ['up_stages.0.module_1.lin_relx.weight']" in str(error.value)


def test_reshaped_key_is_named(tmp_path, trusted):
    trusted["model"]["proj.1.bias"] = torch.zeros(33)
    with pytest.raises(CheckpointError, match=r"proj\.1\.bias: checkpoint \(33,\) vs model \(32,\)"):
        load_checkpoint(save(trusted, tmp_path))


def test_every_key_problem_is_reported_at_once(tmp_path, trusted):
    model = trusted["model"]
    del model["proj.1.weight"]
    model["extra.weight"] = torch.zeros(1)
    model["down_stages.0.module_3.bias"] = torch.zeros(1, 31)
    model["up_stages.1.module_6.weight"] = torch.zeros(7)
    with pytest.raises(CheckpointError) as error:
        load_checkpoint(save(trusted, tmp_path))
    message = str(error.value)
    for name in ("proj.1.weight", "extra.weight", "down_stages.0.module_3.bias", "up_stages.1.module_6.weight"):
        assert name in message


# ------------------------------------------------------------------------------ not checkpoints
def test_truncated_file_is_refused(tmp_path, random_checkpoint):
    path = tmp_path / "truncated.pth"
    data = random_checkpoint.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="truncated|not a readable") as error:
        load_checkpoint(path)
    assert str(path) in str(error.value)


def test_text_file_is_refused(tmp_path):
    path = tmp_path / "notes.txt"
    path.write_text("this is not a checkpoint\n")
    with pytest.raises(CheckpointError, match="not a readable torch checkpoint") as error:
        load_checkpoint(path)
    assert str(path) in str(error.value)


def test_checkpoint_without_config_is_refused(tmp_path, trusted):
    del trusted["config"]
    with pytest.raises(CheckpointError, match=r"missing top-level key\(s\) \['config'\]"):
        load_checkpoint(save(trusted, tmp_path))


def test_bare_state_dict_is_refused(tmp_path, trusted):
    with pytest.raises(CheckpointError, match="missing top-level"):
        load_checkpoint(save(trusted["model"], tmp_path))


def test_non_dict_file_is_refused(tmp_path):
    with pytest.raises(CheckpointError, match="top level is a Tensor"):
        load_checkpoint(save(torch.zeros(3), tmp_path))


def test_missing_file_is_refused(tmp_path):
    with pytest.raises(CheckpointError, match="no such checkpoint file"):
        load_checkpoint(tmp_path / "absent.pth")


def test_checkpoint_error_is_a_value_error():
    assert issubclass(CheckpointError, ValueError)
