"""Parity A (fixture README §8 A): one training step, teacher-forced, against the reference.

For each step s = 0, 1, 2 the weights of that step (``init``, ``after1``, ``after2``) are loaded,
the train-mode forward, both losses and the backward pass are run, and everything is compared
with ``step{s}/*``: integers exactly, features at 1e-4, losses at 1e-5 relative, gradients of
every trainable tensor at 1e-4 relative.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from steploc.hiero.training import clip_gradients, compute_losses
from steploc.hiero.training.forward import kmeans_init_rows
from steploc.hiero.training.losses import vna_positives

from .fixture_data import arrays, fixture_batch, fixture_config, model_and_task

PREFIX = {0: "init", 1: "after1", 2: "after2"}
LOSS_RTOL = 1e-5
GRAD_RTOL = 1e-4


def _run(step: int):
    config = fixture_config()
    model, task = model_and_task(PREFIX[step], config)
    trace: dict[str, torch.Tensor] = {}
    out = compute_losses(model, task, fixture_batch(), config, trace)
    model.zero_grad(set_to_none=True)
    task.zero_grad(set_to_none=True)
    out.loss.backward()
    grads = {f"model.{n}": p.grad for n, p in model.named_parameters()}
    grads |= {f"task.{n}": p.grad for n, p in task.named_parameters()}
    return model, task, out, trace, grads


@pytest.fixture(scope="module", params=[0, 1, 2], ids=lambda s: f"step{s}")
def step_run(request):
    return request.param, _run(request.param)


def _by_depth(out, name):
    return {d: getattr(o, name) for d, o in out.outputs.items()}


def test_kmeans_init_table_of_a_batch_of_two():
    table = arrays()["kmeans_init_idx_cpu_seed42_bs2"].reshape(2, 8, 4)
    np.testing.assert_array_equal(kmeans_init_rows(2).numpy(), table)


def test_graph_and_assignments_exact(step_run):
    s, (_, _, out, trace, _) = step_run
    z = arrays()
    depth = z["out/depth"]
    for d, level_out in out.outputs.items():
        sel = depth == d
        np.testing.assert_array_equal(level_out.level.video.numpy(), z["out/video"][sel])
        np.testing.assert_array_equal(level_out.level.index.numpy(), z["out/indices"][sel])
        np.testing.assert_array_equal(level_out.level.pos.numpy(), z["out/pos"][sel])
        np.testing.assert_array_equal(level_out.assignments.numpy(),
                                      z[f"step{s}/out_assignments"][sel], err_msg=f"depth {d}")
    for d in (2, 1):
        np.testing.assert_array_equal(trace[f"clu_d{d}_km_labels"].numpy(),
                                      z[f"step{s}/clu_d{d}_km_labels"])
        np.testing.assert_array_equal(trace[f"clu_d{d}_rank"].numpy(), z[f"step{s}/clu_d{d}_rank"])
        np.testing.assert_allclose(trace[f"clu_d{d}_in_x"].numpy(), z[f"step{s}/clu_d{d}_in_x"],
                                   atol=1e-4, rtol=1e-4)
        np.testing.assert_allclose(trace[f"clu_d{d}_eigvals"].numpy(),
                                   z[f"step{s}/clu_d{d}_eigvals"], atol=1e-4, rtol=1e-4)


def test_features_and_projections(step_run):
    s, (_, task, out, _, _) = step_run
    z = arrays()
    depth = z["out/depth"]
    for d, level_out in out.outputs.items():
        np.testing.assert_allclose(level_out.features.detach().numpy(),
                                   z[f"step{s}/out_x"][depth == d], atol=1e-4, rtol=1e-4)
    all_x = torch.cat([out.outputs[d].features for d in sorted(out.outputs)]).detach()
    np.testing.assert_allclose(task(all_x).detach().numpy(), z[f"step{s}/proj_z"],
                               atol=1e-4, rtol=1e-4)
    np.testing.assert_allclose(out.text_z.detach().numpy(), z[f"step{s}/text_tx"],
                               atol=1e-4, rtol=1e-4)


def test_vna_positive_mask():
    z = arrays()
    level0 = z["out/depth"] == 0
    mask = vna_positives(torch.from_numpy(z["out/pos"][level0]),
                         torch.from_numpy(z["out/video"][level0].astype(np.int64)),
                         torch.from_numpy(z["in/narr_t"]),
                         torch.from_numpy(z["in/narr_batch"].astype(np.int64)))
    np.testing.assert_array_equal(mask.numpy(), z["vna_positives"])
    assert int(mask.sum()) == 40  # incl. the 2 pairs at exactly 1.0 s; 34 cross-sample excluded


def test_losses_within_1e5_relative(step_run):
    s, (_, _, out, _, _) = step_run
    z = arrays()
    for name, ours in (("loss", out.loss), ("vna", out.vna.loss), ("ft", out.ft)):
        ref = float(z[f"step{s}/{name}"])
        assert abs(float(ours.detach()) - ref) <= LOSS_RTOL * abs(ref), (name, float(ours), ref)
    assert out.vna.n_valid_nodes == 34 and out.vna.n_valid_narrations == 12


def test_gradients_of_every_trainable_tensor(step_run):
    s, (model, task, _, _, grads) = step_run
    z = arrays()
    names = z["param_names"].tolist()
    assert sorted(grads) == sorted(names)
    for name in names:
        ref = z[f"step{s}/grad/{name}"]
        ours = grads[name].numpy()
        rel = np.linalg.norm(ours - ref) / np.linalg.norm(ref)
        assert rel <= GRAD_RTOL, (name, rel)
        assert np.abs(ours - ref).max() <= GRAD_RTOL * np.abs(ref).max() + 1e-8, name
    norm = clip_gradients([*model.parameters(), *task.parameters()], 0.0)
    ref_norm = float(z[f"step{s}/grad_norm"])
    assert abs(float(norm) - ref_norm) <= GRAD_RTOL * ref_norm
