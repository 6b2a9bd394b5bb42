"""The training loop: seeds, steps, periodic official checkpoints, resumable state
(training.md §3.3).

One step: train-mode forward of the batch (dropout on, clustering on), ``L = vna_weight * L_vna
+ ft_weight * L_ft``, ``zero_grad``, backward, clip the total gradient norm, Adam step, next lr.
FP32 throughout, no accumulation, AMP or EMA, as the reference.

Files written in ``out_dir`` (every write is atomic, :func:`~.checkpoint.save_atomic`):

* ``model.pth``: the official ``train.py`` checkpoint, every ``train.save_every`` steps and at the
  end (the reference overwrites one file the same way);
* ``train_state.pt``: weights, Adam state, RNG state, step and the metrics so far, every
  ``train.state_every`` steps and at the end. A run killed at any point resumes from it and
  continues exactly as if uninterrupted (batches are a pure function of (seed, step));
* ``metrics.parquet``: one row per step (``step, epoch, loss, vna, ft, v2t, t2v, grad_norm, lr,
  n_samples, n_nodes, n_narrations, vna_nodes, vna_narrations, vna_positive_pairs``);
* ``config.yaml``: the training config.

Unlike the reference (whose ``resume_from`` is never read, training.md §4.3), training here
resumes.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import torch
from torch import Tensor

from steploc.errors import InputError
from steploc.hiero.checkpoint import read_checkpoint
from steploc.hiero.levels import Level
from steploc.hiero.model import HiERO, HiEROConfig

from .checkpoint import (
    load_resume_state,
    load_text_model_weights,
    official_checkpoint,
    resume_state,
    save_atomic,
    set_rng_state,
    torch_save_atomic,
    write_official_checkpoint,
)
from .config import ConfigSource, TrainingConfig, config_yaml, make_config
from .data import DataReport, TrainingBatch, TrainingData, VideoFeatures
from .forward import DepthOutput, train_forward
from .heads import TaskHeads
from .losses import VNAResult, ft_loss, vna_loss
from .narrations import NarrationTable
from .optim import LRSchedule, build_optimizer, clip_gradients, optimizer_parameters, set_lr

logger = logging.getLogger(__name__)

CHECKPOINT_NAME = "model.pth"
STATE_NAME = "train_state.pt"
METRICS_NAME = "metrics.parquet"
CONFIG_NAME = "config.yaml"
# settings that may change between a run and its resumption
_RESUMABLE_CHANGES = {
    ("train", "device"),
    ("train", "max_steps"),
    ("train", "save_every"),
    ("train", "state_every"),
    ("train", "deterministic"),
    ("train", "init_from"),  # only read at the start of a fresh run
    ("task", "text_model_weights"),  # only copied into model.pth
}


class ResumeMismatch(InputError):
    """The saved training state belongs to a run with another config or other data, so it
    cannot be resumed (``resume=False`` starts afresh, overwriting it)."""


# --------------------------------------------------------------------------- building blocks
def build_model(config: TrainingConfig, period_s: float | None = None) -> HiERO:
    """HiERO with the reference's initialisation (PyTorch defaults; in every TDGC
    ``lin_rel.weight = I``, ``lin_rel.bias = 0`` and the extra ``bias = 0``, done by
    :meth:`TDGC.reset_parameters`). Train mode."""
    m = config.model
    model = HiERO(
        HiEROConfig(
            input_size=m.input_size,
            hidden_size=m.hidden_size,
            pos_hidden_channels=m.pos_hidden_channels,
            n_layers=m.n_layers,
            depth=m.depth,
            radius=m.radius,
            dropout=m.dropout,
        ),
        positions="seconds" if period_s else "index",
        feature_period=period_s,
    )
    return model.train()


def min_sample_length(config: TrainingConfig) -> int:
    """Fewest feature rows a sample may have: every clustered depth needs 2 nodes
    (:attr:`HiERO.min_length`, 5 for depth 3)."""
    deepest_clustered = config.model.depth - 1
    return 2**deepest_clustered + 1 if deepest_clustered >= 1 else 1


def build_task(config: TrainingConfig) -> TaskHeads:
    t = config.task
    return TaskHeads(config.model.hidden_size, t.features_size, t.text_size, t.projector_dropout)


def load_initial_weights(path: str | Path, model: HiERO, task: TaskHeads) -> list[str]:
    """Copy ``model`` (strict) and the fitting ``task`` heads from an official checkpoint
    (read with steploc's safe loader). Returns the task keys that were NOT taken over."""
    checkpoint = read_checkpoint(path)
    state = checkpoint["model"]
    own = model.state_dict()
    problems = [k for k in own if k not in state or tuple(state[k].shape) != tuple(own[k].shape)]
    if problems or set(state) - set(own):
        raise InputError(
            "checkpoint model does not fit the training config (model.*): "
            f"missing or mismatched {problems[:5]}, unexpected {sorted(set(state) - set(own))[:5]}",
            path=path,
        )
    model.load_state_dict({k: state[k].to(torch.float32) for k in own})
    task_state = checkpoint.get("task") or {}
    kept = []
    own_task = task.state_dict()
    fitting = {}
    for key, value in own_task.items():
        other = task_state.get(key) if isinstance(task_state, Mapping) else None
        if isinstance(other, torch.Tensor) and tuple(other.shape) == tuple(value.shape):
            fitting[key] = other.to(torch.float32)
        else:
            kept.append(key)
    task.load_state_dict({**own_task, **fitting})
    return kept


@dataclass(frozen=True)
class LossOutput:
    loss: Tensor  # vna_weight * L_vna + ft_weight * L_ft
    vna: VNAResult
    ft: Tensor
    outputs: dict[int, DepthOutput]
    node_z: Tensor  # projector(depth-0 decoder output)
    text_z: Tensor  # text_proj(narration vectors)


def compute_losses(
    model: HiERO,
    task: TaskHeads,
    batch: TrainingBatch,
    config: TrainingConfig,
    trace: dict[str, Tensor] | None = None,
) -> LossOutput:
    """Forward and both losses for a batch already on the model's device."""
    t = config.task
    level0 = Level.from_positions(batch.positions)
    outputs = train_forward(model, batch.x, level0, trace)
    depth0 = outputs[0]
    node_z = task(depth0.features)
    text_z = task.encode_text(batch.text)
    vna = vna_loss(
        node_z, text_z, depth0.level.pos, depth0.level.video, batch.narration_times,
        batch.narration_sample, t.temperature, t.alpha,
    )
    deeper = [outputs[d] for d in sorted(outputs) if d > 0]
    if deeper:
        ft = ft_loss(
            torch.cat([o.features for o in deeper]),
            torch.cat([o.level.video for o in deeper]),
            torch.cat([torch.full_like(o.level.video, o.level.depth) for o in deeper]),
            torch.cat([o.assignments for o in deeper]),
            t.temperature,
        )
    else:
        ft = node_z.sum() * 0.0
    loss = t.vna_weight * vna.loss + t.ft_weight * ft
    return LossOutput(loss, vna, ft, outputs, node_z, text_z)


@dataclass(frozen=True)
class StepOutput:
    losses: LossOutput
    grad_norm: Tensor  # total L2 norm of the raw gradients, before clipping
    lr: float


def train_step(
    model: HiERO,
    task: TaskHeads,
    optimizer: torch.optim.Optimizer,
    batch: TrainingBatch,
    config: TrainingConfig,
    lr: float,
) -> StepOutput:
    """One optimiser step at learning rate ``lr`` (model and task in train mode)."""
    set_lr(optimizer, lr)
    losses = compute_losses(model, task, batch, config)
    optimizer.zero_grad()
    losses.loss.backward()
    grad_norm = clip_gradients(optimizer_parameters(optimizer), config.train.grad_clip)
    optimizer.step()
    return StepOutput(losses, grad_norm, lr)


def step_metrics(step: int, steps_per_epoch: int, batch: TrainingBatch, out: StepOutput
                 ) -> dict[str, Any]:
    losses = out.losses
    values = torch.stack([
        losses.loss.detach(), losses.vna.loss.detach(), losses.ft.detach(),
        losses.vna.v2t.detach(), losses.vna.t2v.detach(),
        out.grad_norm.detach().to(losses.loss.device).float(),
        losses.vna.positives.sum().float(),
    ]).tolist()  # one device sync per step
    return {
        "step": step,
        "epoch": step // steps_per_epoch,
        "loss": values[0],
        "vna": values[1],
        "ft": values[2],
        "v2t": values[3],
        "t2v": values[4],
        "grad_norm": values[5],
        "lr": out.lr,
        "n_samples": len(batch.samples),
        "n_nodes": batch.num_nodes,
        "n_narrations": batch.num_narrations,
        "vna_nodes": losses.vna.n_valid_nodes,
        "vna_narrations": losses.vna.n_valid_narrations,
        "vna_positive_pairs": int(values[6]),
    }


@contextmanager
def _determinism(enabled: bool, device: torch.device) -> Iterator[None]:
    if not enabled:
        yield
        return
    previous = (torch.are_deterministic_algorithms_enabled(),
                torch.is_deterministic_algorithms_warn_only_enabled())
    if device.type == "cuda":
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        torch.backends.cudnn.deterministic = True
        torch.backends.cudnn.benchmark = False
    torch.use_deterministic_algorithms(True, warn_only=True)
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(previous[0], warn_only=previous[1])


# --------------------------------------------------------------------------- public entry
@dataclass(frozen=True)
class StepReport:
    """What a ``callback`` of :func:`train` receives after every step."""

    step: int
    metrics: dict[str, Any]
    losses: LossOutput


@dataclass
class TrainResult:
    out_dir: Path
    checkpoint: Path  # official train.py checkpoint (model.pth)
    state: Path  # resume state (train_state.pt)
    metrics_path: Path  # per-step metrics (metrics.parquet)
    config_path: Path
    metrics: pd.DataFrame
    steps_done: int
    total_steps: int
    steps_per_epoch: int
    n_samples: int
    data_report: DataReport
    resumed_from: int | None  # step the run resumed at, None for a fresh run
    model: HiERO  # trained backbone, eval mode, on the training device
    task: TaskHeads
    config: TrainingConfig


def _period(videos: Iterable[VideoFeatures]) -> float | None:
    periods = {float(v.period_s) for v in videos}
    return periods.pop() if len(periods) == 1 else None


def _config_changes(saved: Mapping[str, Any], current: Mapping[str, Any]) -> list[str]:
    changes = []
    for section, values in current.items():
        for key, value in values.items():
            if (section, key) in _RESUMABLE_CHANGES:
                continue
            old = saved.get(section, {}).get(key)
            if old != value:
                changes.append(f"{section}.{key}: {old!r} -> {value!r}")
    return changes


def train(
    config: ConfigSource,
    videos: Iterable[VideoFeatures] | Mapping[str, VideoFeatures],
    narrations: NarrationTable,
    out_dir: str | Path,
    *,
    resume: bool | str = "auto",
    overrides: Iterable[str] = (),
    unknown_videos: str = "error",
    outside: str = "error",
    callback: Callable[[StepReport], None] | None = None,
) -> TrainResult:
    """Train HiERO on narrated videos and write the outputs into ``out_dir``.

    ``config``: a :class:`TrainingConfig`, mapping, YAML path or None, plus dotlist
    ``overrides``. ``videos``: :class:`VideoFeatures` (features + period in seconds).
    ``narrations``: pre-computed narration vectors (:mod:`.narrations`); rows of unknown videos
    or outside their video raise unless ``unknown_videos`` / ``outside`` is ``"drop"``.
    ``resume``: ``"auto"`` continues from ``out_dir/train_state.pt`` when it exists, True
    requires it, False starts afresh (overwriting). Returns a :class:`TrainResult`.
    """
    cfg = make_config(config, list(overrides))
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    video_list = list(videos.values()) if isinstance(videos, Mapping) else list(videos)
    period = _period(video_list)
    device = torch.device(cfg.train.device)
    tr = cfg.train

    shortest = min_sample_length(cfg)
    min_features = cfg.data.min_sample_features or shortest
    if min_features < shortest:
        raise InputError(f"data.min_sample_features={min_features} is below the model's "
                         f"minimum of {shortest} feature rows")
    data = TrainingData(
        video_list, narrations,
        input_size=cfg.model.input_size, text_size=cfg.task.text_size,
        batch_size=tr.batch_size, part_seconds=cfg.data.part_seconds,
        min_features=min_features, shuffle=cfg.data.shuffle, seed=tr.seed,
        unknown_videos=unknown_videos, outside=outside,
    )
    logger.info("training data: %s", asdict(data.report))
    schedule = LRSchedule.from_config(tr, data.steps_per_epoch)
    total = schedule.total_steps if tr.max_steps is None else min(tr.max_steps,
                                                                  schedule.total_steps)
    text_model = (load_text_model_weights(cfg.task.text_model_weights)
                  if cfg.task.text_model_weights else None)
    paths = {name: out_dir / name for name in (CHECKPOINT_NAME, STATE_NAME, METRICS_NAME,
                                               CONFIG_NAME)}
    state_path = paths[STATE_NAME]
    if resume not in (True, False, "auto"):
        raise ValueError(f"resume must be True, False or 'auto', got {resume!r}")
    do_resume = state_path.exists() if resume == "auto" else bool(resume)
    if do_resume and not state_path.exists():
        raise InputError("resume=True but there is no training state to resume from",
                         path=state_path)
    for name in paths:  # temporary files of writes interrupted by a crash or kill
        for stale in out_dir.glob(f".{name}.*.tmp"):
            stale.unlink(missing_ok=True)
    save_atomic(paths[CONFIG_NAME], lambda tmp: tmp.write_text(config_yaml(cfg)))

    with _determinism(tr.deterministic, device):
        torch.manual_seed(tr.seed)
        model = build_model(cfg, period)  # initialised from the fresh seed
        task = build_task(cfg)
        if tr.init_from:
            not_loaded = load_initial_weights(tr.init_from, model, task)
            if not_loaded:
                logger.warning("init_from %s: task keys kept at random init: %s", tr.init_from,
                               not_loaded)
        model.to(device)
        task.to(device)
        optimizer = build_optimizer(model, task, tr)
        metrics: list[dict[str, Any]] = []
        start = 0
        resumed_from = None
        if do_resume:
            state = load_resume_state(state_path)
            changes = _config_changes(state["config"], cfg.to_dict())
            if changes:
                raise ResumeMismatch("cannot resume: the training config changed: "
                                 + "; ".join(changes), path=state_path)
            if state["data_fingerprint"] != data.fingerprint():
                raise ResumeMismatch("cannot resume: the training data (samples, narrations) "
                                 "differ from the run that wrote this state", path=state_path)
            model.load_state_dict(state["model"])
            task.load_state_dict(state["task"])
            optimizer.load_state_dict(state["optimizer"])
            set_rng_state(state["rng"], device)
            start = resumed_from = int(state["steps_done"])
            columns = state["metrics"]
            metrics = ([dict(zip(columns, row, strict=True))
                        for row in zip(*columns.values(), strict=True)] if columns else [])
            logger.info("resuming at step %d of %d from %s", start, total, state_path)
        set_lr(optimizer, schedule.lr_at(start))
        model.train()
        task.train()

        def save(steps_done: int, checkpoint: bool, state_too: bool) -> None:
            if checkpoint:
                write_official_checkpoint(paths[CHECKPOINT_NAME], official_checkpoint(
                    model, task, optimizer, schedule, steps_done, cfg, period, text_model))
            if state_too:
                frame = pd.DataFrame(metrics)
                save_atomic(paths[METRICS_NAME], lambda tmp: frame.to_parquet(tmp, index=False))
                torch_save_atomic(resume_state(
                    steps_done=steps_done, model=model, task=task, optimizer=optimizer,
                    config=cfg, data_fingerprint=data.fingerprint(), metrics=metrics,
                    device=device), state_path)

        state_every = tr.state_every or tr.save_every
        for step in range(start, total):
            batch = data.batch(step).to(device)
            out = train_step(model, task, optimizer, batch, cfg, schedule.lr_at(step))
            set_lr(optimizer, schedule.lr_at(step + 1))  # as the reference's scheduler call
            row = step_metrics(step, data.steps_per_epoch, batch, out)
            metrics.append(row)
            done = step + 1
            save(done, done % tr.save_every == 0 or done == total,
                 done % state_every == 0 or done == total)
            if callback is not None:
                callback(StepReport(step, row, out.losses))
        if start >= total and not paths[CHECKPOINT_NAME].exists():
            save(total, True, True)
        if total == 0:
            save(0, True, True)

    model.eval()
    task.eval()
    return TrainResult(
        out_dir=out_dir,
        checkpoint=paths[CHECKPOINT_NAME],
        state=state_path,
        metrics_path=paths[METRICS_NAME],
        config_path=paths[CONFIG_NAME],
        metrics=pd.DataFrame(metrics),
        steps_done=max(total, start),
        total_steps=total,
        steps_per_epoch=data.steps_per_epoch,
        n_samples=len(data),
        data_report=data.report,
        resumed_from=resumed_from,
        model=model,
        task=task,
        config=cfg,
    )
