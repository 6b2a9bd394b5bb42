"""Optimiser, gradient clipping and learning-rate schedule of the reference (training.md §3.2-3.4).

* :func:`build_optimizer`: ``torch.optim.Adam`` (coupled L2 decay, not AdamW) with the
  reference's two parameter groups: every 1-D tensor without decay (group 0), every tensor with
  >= 2 dims with ``weight_decay`` (group 1), each group in ``model.parameters()`` then
  ``task.parameters()`` order, so the state-dict ids match the official checkpoints.
* :func:`clip_gradients`: ``clip_grad_norm_`` over all parameters of the optimiser, on the raw
  gradients (before Adam adds the L2 term).
* :class:`LRSchedule`: the closed-form lr of every step. ``reference=True`` reproduces the
  reference loop exactly, including its 2-step lag (a spurious ``0.001 * lr`` at step 0, a
  NEGATIVE lr at step 1 when the warm-up has fewer than 999 steps, a cosine that starts 2 steps
  late and never reaches ``lr_min``). ``reference=False`` (default) is the intended schedule,
  i.e. the reference shifted by 2 steps: ``fixed(s) = reference(s + 2)``. The official
  ``LinearLR`` / ``CosineAnnealingLR`` state dicts for a checkpoint come from
  :meth:`LRSchedule.scheduler_state_dicts`.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn

from .config import TrainConfig


def parameter_groups(*modules: nn.Module) -> tuple[list[nn.Parameter], list[nn.Parameter]]:
    """(1-D tensors, >= 2-D tensors) among the trainable parameters, module by module."""
    params = [p for module in modules for p in module.parameters() if p.requires_grad]
    return [p for p in params if p.dim() == 1], [p for p in params if p.dim() > 1]


def named_parameter_order(**modules: nn.Module) -> list[str]:
    """Names (``<prefix>.<name>``) in optimiser order: group 0 then group 1 (state-dict ids)."""
    named = [
        (f"{prefix}.{name}", p)
        for prefix, module in modules.items()
        for name, p in module.named_parameters()
        if p.requires_grad
    ]
    return [n for n, p in named if p.dim() == 1] + [n for n, p in named if p.dim() > 1]


def build_optimizer(model: nn.Module, task: nn.Module, config: TrainConfig) -> torch.optim.Adam:
    """Adam over ``model`` then ``task`` in the reference's two groups (lr set per step)."""
    one_dim, multi_dim = parameter_groups(model, task)
    optimizer = torch.optim.Adam(
        [
            {"params": one_dim, "lr": config.lr, "weight_decay": 0},
            {"params": multi_dim, "lr": config.lr, "weight_decay": config.weight_decay},
        ],
        lr=config.lr,
        betas=(config.beta1, config.beta2),
        eps=config.eps,
        weight_decay=config.weight_decay,
    )
    for group in optimizer.param_groups:
        group["initial_lr"] = config.lr  # what the reference's schedulers add
    return optimizer


def set_lr(optimizer: torch.optim.Optimizer, lr: float) -> None:
    for group in optimizer.param_groups:
        group["lr"] = lr


def optimizer_parameters(optimizer: torch.optim.Optimizer) -> list[Tensor]:
    return [p for group in optimizer.param_groups for p in group["params"]]


def clip_gradients(params: Iterable[Tensor], max_norm: float) -> Tensor:
    """Total L2 norm of the raw gradients (returned), scaled down to ``max_norm`` if larger.

    ``torch.nn.utils.clip_grad_norm_``: coefficient ``min(1, max_norm / (norm + 1e-6))``.
    ``max_norm <= 0`` only measures the norm.
    """
    params = list(params)
    if max_norm > 0:
        return torch.nn.utils.clip_grad_norm_(params, max_norm)
    grads = [p.grad for p in params if p.grad is not None]
    if not grads:
        return torch.zeros(())
    return torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(g) for g in grads]))


# --------------------------------------------------------------------------- schedule
@dataclass(frozen=True)
class LRSchedule:
    """Learning rate of every optimiser step, in closed form (training.md §3.4)."""

    base_lr: float
    lr_min: float
    steps_per_epoch: int
    num_epochs: int
    warmup: bool = True
    warmup_epochs: int = 5
    start_factor: float = 0.001
    reference: bool = False

    @classmethod
    def from_config(cls, config: TrainConfig, steps_per_epoch: int) -> LRSchedule:
        return cls(
            base_lr=config.lr,
            lr_min=config.lr_min,
            steps_per_epoch=steps_per_epoch,
            num_epochs=config.num_epochs,
            warmup=config.lr_warmup,
            warmup_epochs=config.lr_warmup_epochs,
            start_factor=config.lr_warmup_start_factor,
            reference=config.reference_schedule,
        )

    @property
    def warmup_steps(self) -> int:
        """N: ``lr_warmup_epochs * E`` with warm-up, else 0."""
        return self.warmup_epochs * self.steps_per_epoch if self.warmup else 0

    @property
    def cosine_steps(self) -> int:
        """T_max of the cosine: ``(epochs - warmup_epochs) * E`` or ``epochs * E``."""
        epochs = self.num_epochs - (self.warmup_epochs if self.warmup else 0)
        return epochs * self.steps_per_epoch

    @property
    def total_steps(self) -> int:
        return self.num_epochs * self.steps_per_epoch

    # torch's closed forms, with the same operation order (so the values are bit-identical)
    def linear(self, epoch: int) -> float:
        n, sf = self.warmup_steps, self.start_factor
        return self.base_lr * (sf + (1.0 - sf) * min(n, epoch) / n)

    def cosine(self, epoch: int) -> float:
        eta, b = self.lr_min, self.base_lr
        return eta + (b - eta) * (1 + math.cos(math.pi * epoch / self.cosine_steps)) / 2

    def lr_at(self, step: int) -> float:
        """The lr used by optimiser step ``step`` (0-based)."""
        if step < 0:
            raise ValueError(f"step must be >= 0, got {step}")
        n = self.warmup_steps
        if self.reference:
            if self.warmup:
                if step == 0:
                    return self.base_lr * self.start_factor  # set by the LinearLR constructor
                return self.linear(step - 2) if step <= n + 1 else self.cosine(step - n - 2)
            return self.base_lr if step < 2 else self.cosine(step - 2)
        if self.warmup:
            return self.linear(step) if step <= n else self.cosine(step - n)
        return self.cosine(step)

    def table(self, steps: int) -> list[float]:
        return [self.lr_at(s) for s in range(steps)]

    def scheduler_calls(self, steps_done: int) -> dict[str, tuple[int, int | None]]:
        """``{"warmup"|"cosine": (number of step(epoch) calls, last epoch argument)}`` after
        ``steps_done`` optimiser steps: the reference's calls, or the fixed schedule's."""
        n, s = self.warmup_steps, steps_done
        if self.reference:
            if self.warmup:
                warm = min(s, n + 1)
                cos = max(0, s - 1 - n)
                return {"warmup": (warm, min(s - 1, n) - 1 if warm else None),
                        "cosine": (cos, s - 2 - n if cos else None)}
            cos = max(0, s - 1)
            return {"warmup": (0, None), "cosine": (cos, s - 2 if cos else None)}
        if self.warmup:
            warm, cos = min(s, n), max(0, s - n)
            return {"warmup": (warm, min(s, n) if warm else None),
                    "cosine": (cos, s - n if cos else None)}
        return {"warmup": (0, None), "cosine": (s, s if s else None)}

    def scheduler_state_dicts(
        self, steps_done: int
    ) -> tuple[dict[str, Any] | None, dict[str, Any]]:
        """(LinearLR state or None, CosineAnnealingLR state) after ``steps_done`` steps.

        Built by torch itself on a stand-in optimiser exactly as the reference builds them
        (``build_lr_scheduler``), then stepped with the last epoch argument of the run; the call
        counter is set to the run's. So the fields, private ones included, are those of this
        torch version.
        """
        probe = [nn.Parameter(torch.zeros(1)), nn.Parameter(torch.zeros(1, 1))]
        optimizer = torch.optim.Adam(
            [{"params": [probe[0]], "lr": self.base_lr},
             {"params": [probe[1]], "lr": self.base_lr}],
            lr=self.base_lr,
        )
        calls = self.scheduler_calls(steps_done)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            warmup = None
            if self.warmup:
                warmup = torch.optim.lr_scheduler.LinearLR(
                    optimizer, self.start_factor, 1.0, self.warmup_steps
                )
            cosine = torch.optim.lr_scheduler.CosineAnnealingLR(
                optimizer, self.cosine_steps, self.lr_min
            )
            for name, scheduler in (("warmup", warmup), ("cosine", cosine)):
                count, last = calls[name]
                if scheduler is None or count == 0:
                    continue
                scheduler.step(last)
                scheduler._step_count = 1 + count
        return (None if warmup is None else warmup.state_dict()), cosine.state_dict()
