"""Writing training outputs: the official ``train.py`` checkpoint and the resume state.

* :func:`official_checkpoint` builds the dict the reference ``train.main()`` saves
  (training.md §4.3, hiero.md §2): ``model``, ``task``, ``optimizer`` (Adam state, ids in the
  reference order), ``warmup_scheduler`` (LinearLR state or None), ``scheduler``
  (CosineAnnealingLR state), ``step`` (``round_start + steps_per_round``, the reference's value
  even after a shorter last round) and ``config`` (an ``omegaconf.DictConfig`` of the
  reference's job config, struct flag on, with a ``steploc_training`` node holding this
  package's config). It loads with :func:`steploc.hiero.load_checkpoint` and with the official
  scripts; for their strict load of ``task`` the frozen DistilBERT weights must be supplied
  (``task.text_model_weights``, copied as ``text_model.*``), since training from pre-computed
  vectors has no text encoder.
* :func:`save_atomic` writes every file through a temporary file next to the target and
  ``os.replace``, so a crash or kill never leaves a truncated file under the final name.
* The resume state (:func:`resume_state`, :func:`load_resume_state`) holds only tensors and
  plain Python values and is read back with ``torch.load(weights_only=True)``.
"""

from __future__ import annotations

import os
import tempfile
from collections import OrderedDict
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn

from steploc.errors import InputError
from steploc.hiero.checkpoint import CONV_TARGET, MODEL_TARGET

from .config import TrainingConfig
from .optim import LRSchedule

STATE_FORMAT = "steploc.hiero.training.state/1"
OFFICIAL_KEYS = ("model", "task", "optimizer", "warmup_scheduler", "scheduler", "step", "config")


def save_atomic(path: str | Path, write: Callable[[Path], object]) -> Path:
    """Call ``write(tmp)`` for a temporary file in the target's folder, fsync it, then
    ``os.replace`` it onto ``path``; the temporary file is removed on any failure."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        write(tmp)
        with open(tmp, "rb+") as handle:
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


def torch_save_atomic(obj: Any, path: str | Path) -> Path:
    return save_atomic(path, lambda tmp: torch.save(obj, tmp))


def load_text_model_weights(path: str | Path) -> OrderedDict[str, torch.Tensor]:
    """A DistilBERT state dict (EgoVLP ``egovlp_text.pth``) read with ``weights_only=True``."""
    path = Path(path)
    if not path.is_file():
        raise InputError("no such text model weights file (task.text_model_weights)", path=path)
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:
        raise InputError(f"cannot read the text model weights: {error}", path=path) from error
    if isinstance(state, Mapping) and "state_dict" in state and isinstance(state["state_dict"],
                                                                           Mapping):
        state = state["state_dict"]
    if not isinstance(state, Mapping) or not all(
        isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in state.items()
    ):
        raise InputError("text model weights must be a state dict of tensors", path=path)
    return OrderedDict((k, v) for k, v in state.items())


def task_state_dict(
    task: nn.Module, text_model: Mapping[str, torch.Tensor] | None = None
) -> OrderedDict[str, torch.Tensor]:
    """The reference ``HiEROTask.state_dict()`` order: projector, text_model, text_proj."""
    own = task.state_dict()
    state: OrderedDict[str, torch.Tensor] = OrderedDict(
        (k, v.detach().cpu()) for k, v in own.items() if k.startswith("projector.")
    )
    for key, value in (text_model or {}).items():
        state[f"text_model.{key}"] = value.detach().cpu()
    state.update((k, v.detach().cpu()) for k, v in own.items() if not k.startswith("projector."))
    return state


def reference_job_config(config: TrainingConfig, period_s: float | None) -> Any:
    """The reference's composed egovlp job config (``omegaconf.DictConfig``, struct on),
    filled from ``config``; ``features`` uses stride 1 and fps ``1 / period_s``."""
    from omegaconf import OmegaConf

    m, t, d, tr = config.model, config.task, config.data, config.train
    fps = (1.0 / period_s) if period_s else None
    job = OmegaConf.create(
        {
            "model": {
                "conv": {
                    "_target_": CONV_TARGET,
                    "bias": True,
                    "pos_hidden_channels": m.pos_hidden_channels,
                    "aggr": "mean",
                    "pos_act": "tanh",
                    "use_signed_temporal_distance": True,
                    "use_pos_attr": True,
                    "in_channels": "${model.hidden_size}",
                    "out_channels": "${model.hidden_size}",
                },
                "_target_": MODEL_TARGET,
                "hidden_size": m.hidden_size,
                "n_layers": m.n_layers,
                "k": float(m.radius),
                "depth": m.depth,
                "input_projection": True,
                "dropout": float(m.dropout),
                "pool": "mean",
                "n_clusters": 4,
                "clustering_sample_points": 32,
                "clustering_at_inference": False,
            },
            "task": {
                "_target_": "models.tasks.hiero.HiEROTask",
                "input_size": "${model.hidden_size}",
                "features_size": t.features_size,
                "dropout": t.projector_dropout,
                "loss_weight": float(t.vna_weight),
                "proc_loss_weight": float(t.ft_weight),
                "temperature": float(t.temperature),
                "text_encoder": "distillbert",
                "text_encoder_weights": "pretrained/egovlp_text.pth",
                "text_encoder_full_ft": False,
                "contrastive_mode": "sym",
                "alpha": float(t.alpha),
                "beta": -1.0,
            },
            "device": tr.device,
            "seed": tr.seed,
            "resume_from": None,
            "save_to": "checkpoints",
            "train_dataset": {"_target_": "data.egoclip.EgoClipDataset", "root": "data/ego4d"},
            "val_dataset": {
                "_target_": "data.egomcq.EgoMCQDataset",
                "root": "${train_dataset.root}",
                "context_window_size": 4,
            },
            "batch_size": tr.batch_size,
            "num_workers": 1,
            "persistent_workers": True,
            "num_epochs": tr.num_epochs,
            "steps_per_round": tr.save_every,
            "lr_warmup": tr.lr_warmup,
            "lr_warmup_epochs": tr.lr_warmup_epochs,
            "lr_min": float(tr.lr_min),
            "optimizer": {
                "_target_": "torch.optim.Adam",
                "lr": float(tr.lr),
                "weight_decay": float(tr.weight_decay),
            },
            "gradient_clip": float(tr.grad_clip),
            "save_model": False,
            "features": {
                "name": "steploc",
                "stride": 1,
                "window": 1,
                "fps": fps,
                "size": m.input_size,
            },
            "steploc_training": {**config.to_dict(), "part_seconds": d.part_seconds},
        }
    )
    OmegaConf.set_struct(job, True)
    return job


def official_checkpoint(
    model: nn.Module,
    task: nn.Module,
    optimizer: torch.optim.Optimizer,
    schedule: LRSchedule,
    steps_done: int,
    config: TrainingConfig,
    period_s: float | None = None,
    text_model: Mapping[str, torch.Tensor] | None = None,
) -> dict[str, Any]:
    """The official checkpoint dict after ``steps_done`` optimiser steps."""
    warmup_state, cosine_state = schedule.scheduler_state_dicts(steps_done)
    every = config.train.save_every
    round_start = ((steps_done - 1) // every) * every if steps_done > 0 else 0
    return {
        "model": OrderedDict((k, v.detach().cpu()) for k, v in model.state_dict().items()),
        "task": task_state_dict(task, text_model),
        "optimizer": _cpu(optimizer.state_dict()),
        "warmup_scheduler": warmup_state,
        "scheduler": cosine_state,
        "step": round_start + every,
        "config": reference_job_config(config, period_s),
    }


def write_official_checkpoint(path: str | Path, checkpoint: Mapping[str, Any]) -> Path:
    return torch_save_atomic(dict(checkpoint), path)


def _cpu(value: Any) -> Any:
    if isinstance(value, torch.Tensor):
        return value.detach().cpu()
    if isinstance(value, dict):
        return {k: _cpu(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_cpu(v) for v in value]
    return value


# --------------------------------------------------------------------------- resume state
def rng_state(device: torch.device) -> dict[str, Any]:
    state: dict[str, Any] = {"torch": torch.get_rng_state()}
    if device.type == "cuda":
        state["cuda"] = torch.cuda.get_rng_state(device)
    return state


def set_rng_state(state: Mapping[str, Any], device: torch.device) -> None:
    torch.set_rng_state(state["torch"])
    if device.type == "cuda" and "cuda" in state:
        torch.cuda.set_rng_state(state["cuda"], device)


def resume_state(
    *,
    steps_done: int,
    model: nn.Module,
    task: nn.Module,
    optimizer: torch.optim.Optimizer,
    config: TrainingConfig,
    data_fingerprint: str,
    metrics: list[dict[str, Any]],
    device: torch.device,
) -> dict[str, Any]:
    return {
        "format": STATE_FORMAT,
        "steps_done": steps_done,
        "model": {k: v.detach().cpu() for k, v in model.state_dict().items()},
        "task": {k: v.detach().cpu() for k, v in task.state_dict().items()},
        "optimizer": _cpu(optimizer.state_dict()),
        "rng": rng_state(device),
        "config": config.to_dict(),
        "data_fingerprint": data_fingerprint,
        "metrics": {key: [row[key] for row in metrics] for key in (metrics[0] if metrics else {})},
    }


def load_resume_state(path: str | Path) -> dict[str, Any]:
    path = Path(path)
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:
        raise InputError(f"cannot read the training resume state: {error}", path=path) from error
    if not isinstance(state, dict) or state.get("format") != STATE_FORMAT:
        raise InputError(f"not a {STATE_FORMAT} resume state", path=path)
    return state
