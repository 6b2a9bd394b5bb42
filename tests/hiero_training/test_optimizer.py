"""Parity B (fixture README §8 B): the optimiser in isolation, fed the fixture's raw gradients.

Clip + Adam (coupled L2 on >= 2-D tensors only) must reproduce ``after1``..``after3`` and the
exaggerated-decay step ``altwd/after1`` to float32 precision (README: torch's own formula is
bit-exact; equivalent arrangements land within 6e-8).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from steploc.hiero.training import LRSchedule, build_optimizer, clip_gradients
from steploc.hiero.training.optim import named_parameter_order, optimizer_parameters, set_lr

from .fixture_data import STEPS, arrays, fixture_config, model_and_task, weights

TOL = 1e-6


def teacher_forced_run(steps: int = STEPS, weight_decay: float | None = None):
    """Model, task, optimizer, schedule after ``steps`` steps fed the fixture's gradients."""
    overrides = ["train.reference_schedule=true"]
    if weight_decay is not None:
        overrides.append(f"train.weight_decay={weight_decay}")
    config = fixture_config(*overrides)
    model, task = model_and_task("init", config)
    optimizer = build_optimizer(model, task, config.train)
    schedule = LRSchedule.from_config(config.train, steps_per_epoch=1)
    z = arrays()
    params = {f"model.{n}": p for n, p in model.named_parameters()}
    params |= {f"task.{n}": p for n, p in task.named_parameters()}
    for s in range(steps):
        for name, p in params.items():
            p.grad = torch.from_numpy(z[f"step{s}/grad/{name}"].copy())
        clip_gradients(optimizer_parameters(optimizer), config.train.grad_clip)
        set_lr(optimizer, schedule.lr_at(s))
        optimizer.step()
        set_lr(optimizer, schedule.lr_at(s + 1))
    return model, task, optimizer, schedule, config


def _max_deviation(model, task, reference: dict[str, np.ndarray]) -> float:
    ours = {f"model.{k}": v for k, v in model.state_dict().items()}
    ours |= {f"task.{k}": v for k, v in task.state_dict().items()}
    assert sorted(ours) == sorted(reference)
    return max(float(np.abs(ours[k].numpy() - reference[k]).max()) for k in reference)


def test_parameter_groups_are_the_reference_ones():
    model, task = model_and_task("init")
    z = arrays()
    assert named_parameter_order(model=model, task=task) == z["param_names"].tolist()
    optimizer = build_optimizer(model, task, fixture_config().train)
    sizes = [len(g["params"]) for g in optimizer.param_groups]
    assert sizes == [73, 95]
    assert [g["weight_decay"] for g in optimizer.param_groups] == [0, 1e-5]
    assert all(p.dim() == 1 for p in optimizer.param_groups[0]["params"])
    assert (z["param_group"] == np.repeat([0, 1], sizes)).all()


@pytest.mark.parametrize("steps", [1, 2, 3])
def test_adam_reproduces_after_each_step(steps):
    model, task, _, schedule, _ = teacher_forced_run(steps)
    z = arrays()
    for s in range(steps):
        assert [schedule.lr_at(s)] * 2 == z[f"step{s}/lr"].tolist()
    assert _max_deviation(model, task, weights(f"after{steps}")) <= TOL


def test_clip_coefficient_matches():
    z = arrays()
    model, task = model_and_task("init")
    params = {f"model.{n}": p for n, p in model.named_parameters()}
    params |= {f"task.{n}": p for n, p in task.named_parameters()}
    for name, p in params.items():
        p.grad = torch.from_numpy(z[f"step0/grad/{name}"].copy())
    raw = params["task.text_proj.0.weight"].grad.clone()
    norm = clip_gradients(list(params.values()), 1.0)
    assert abs(float(norm) - float(z["step0/grad_norm"])) <= 1e-6 * float(z["step0/grad_norm"])
    torch.testing.assert_close(params["task.text_proj.0.weight"].grad,
                               raw * torch.tensor(z["step0/clip_coef"]), rtol=0, atol=0)


def test_exaggerated_weight_decay_step():
    z = arrays()
    decay = float(z["altwd/weight_decay"])
    model, task, *_ = teacher_forced_run(1, weight_decay=decay)
    reference = {name: z[f"altwd/after1/{name}"] for name in z["state_names"].tolist()}
    assert _max_deviation(model, task, reference) <= TOL


def test_decoupled_decay_would_fail_the_check():
    """Sharpness: AdamW-style decay is off by far more than the tolerance (README §8 B)."""
    z = arrays()
    decay = float(z["altwd/weight_decay"])
    model, task = model_and_task("init")
    one_dim = [p for m in (model, task) for p in m.parameters() if p.dim() == 1]
    multi = [p for m in (model, task) for p in m.parameters() if p.dim() > 1]
    wrong = torch.optim.AdamW([{"params": one_dim, "weight_decay": 0},
                               {"params": multi, "weight_decay": decay}], lr=1e-3)
    params = {f"model.{n}": p for n, p in model.named_parameters()}
    params |= {f"task.{n}": p for n, p in task.named_parameters()}
    for name, p in params.items():
        p.grad = torch.from_numpy(z[f"step0/grad/{name}"].copy())
    clip_gradients(list(params.values()), 1.0)
    wrong.step()
    reference = {name: z[f"altwd/after1/{name}"] for name in z["state_names"].tolist()}
    assert _max_deviation(model, task, reference) > 1e-4
