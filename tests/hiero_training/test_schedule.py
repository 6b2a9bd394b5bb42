"""Parity E (fixture README §8 E) and the fixed schedule.

``lr_table`` was produced by stepping the reference ``build_lr_scheduler`` with the exact calls
of ``train.py``; ``reference_schedule=True`` must reproduce it (closed forms, ~1e-18). The fixed
default is the reference shifted by its 2-step lag.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
import torch

from steploc.hiero.training import LRSchedule

from .fixture_data import arrays

BASE = 1e-5


def _schedule(row: int, reference: bool) -> LRSchedule:
    z = arrays()
    return LRSchedule(
        base_lr=BASE, lr_min=1e-8, steps_per_epoch=int(z["lr_table_E"][row]),
        num_epochs=int(z["lr_table_num_epochs"][row]), warmup=bool(z["lr_table_warmup"][row]),
        warmup_epochs=5, reference=reference,
    )


@pytest.mark.parametrize("row", range(5))
def test_reference_table_reproduced(row):
    table = arrays()["lr_table"][row]
    ours = np.array(_schedule(row, reference=True).table(table.size))
    assert np.abs(ours - table).max() <= 1e-18, (ours, table)


def test_reference_quirks_are_there():
    schedule = _schedule(0, reference=True)  # warm-up, E = 1: N = 5 < 999
    assert schedule.lr_at(0) == pytest.approx(1e-8)
    assert schedule.lr_at(1) < 0  # the spurious negative lr of the 2-step lag
    assert schedule.lr_at(2) == pytest.approx(1e-8)
    assert schedule.lr_at(7) == BASE  # the warm-up peak comes 2 steps late


def _simulate_reference_loop(schedule: LRSchedule, steps: int):
    """Drive real torch schedulers with the calls of train.py:102-107; lr used at each step."""
    p0, p1 = torch.nn.Parameter(torch.zeros(1)), torch.nn.Parameter(torch.zeros(1, 1))
    optimizer = torch.optim.Adam([{"params": [p0], "lr": BASE}, {"params": [p1], "lr": BASE}],
                                 lr=BASE)
    n = schedule.warmup_steps
    used = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        warmup = (torch.optim.lr_scheduler.LinearLR(optimizer, 0.001, 1.0, n)
                  if schedule.warmup else None)
        cosine = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, schedule.cosine_steps, 1e-8)
        for step in range(steps):
            used.append(optimizer.param_groups[0]["lr"])
            optimizer.step()
            if warmup is not None and step <= n:
                warmup.step(step - 1)
            if step > n:
                cosine.step(step - 1 - n)
    return used, warmup, cosine


@pytest.mark.parametrize("warmup,epochs,per_epoch,steps", [(True, 15, 1, 15), (True, 3, 2, 6),
                                                           (False, 3, 1, 3), (False, 2, 3, 5)])
def test_scheduler_states_match_a_real_reference_loop(warmup, epochs, per_epoch, steps):
    schedule = LRSchedule(BASE, 1e-8, per_epoch, epochs, warmup=warmup, warmup_epochs=1,
                          reference=True)
    used, real_warmup, real_cosine = _simulate_reference_loop(schedule, steps)
    assert schedule.table(steps) == used
    warm_state, cos_state = schedule.scheduler_state_dicts(steps)
    assert cos_state == real_cosine.state_dict()
    assert warm_state == (None if real_warmup is None else real_warmup.state_dict())
    assert schedule.lr_at(steps) == real_cosine.optimizer.param_groups[0]["lr"]


@pytest.mark.parametrize("warmup", [True, False])
def test_fixed_schedule(warmup):
    schedule = LRSchedule(BASE, 1e-8, steps_per_epoch=40, num_epochs=15, warmup=warmup)
    reference = LRSchedule(BASE, 1e-8, steps_per_epoch=40, num_epochs=15, warmup=warmup,
                           reference=True)
    total = schedule.total_steps
    lrs = np.array(schedule.table(total))
    # the fix is exactly the reference without its 2-step lag
    assert [schedule.lr_at(s) for s in range(total)] == [reference.lr_at(s + 2)
                                                         for s in range(total)]
    assert (lrs > 0).all()
    n = schedule.warmup_steps
    if warmup:
        assert lrs[0] == pytest.approx(0.001 * BASE)
        assert np.all(np.diff(lrs[: n + 1]) > 0) and lrs[n] == BASE
        assert np.all(np.diff(lrs[n:]) < 0)
    else:
        assert lrs[0] == BASE and np.all(np.diff(lrs) < 0)
    # the last step sits one step before the end of the cosine
    last = 1e-8 + (BASE - 1e-8) * (1 + math.cos(math.pi * (schedule.cosine_steps - 1)
                                                / schedule.cosine_steps)) / 2
    assert lrs[-1] == pytest.approx(last, rel=1e-12)
    assert lrs[-1] < 1.01e-8 + 1e-3 * BASE


def test_fixed_schedule_states_follow_its_own_calls():
    schedule = LRSchedule(BASE, 1e-8, steps_per_epoch=2, num_epochs=4, warmup=True,
                          warmup_epochs=1)
    for done in range(0, 9):
        _, cosine = schedule.scheduler_state_dicts(done)
        if done > schedule.warmup_steps:
            assert cosine["_last_lr"] == [schedule.lr_at(done)] * 2
            assert cosine["last_epoch"] == done - schedule.warmup_steps
