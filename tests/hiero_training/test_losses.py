"""The losses against a direct transcription of the reference formulas (softmax x mask form)."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from steploc.hiero.training import ft_loss, vna_loss


def reference_vna(z, tx, pos, video, t, b, tau=0.05):
    """models/tasks/hiero.py compute_vna_loss (beta = -1, depth 0, alpha 1, mode sym)."""
    v = z / z.norm(dim=-1, p=2, keepdim=True)
    tx = tx / tx.norm(dim=-1, p=2, keepdim=True)
    positives = ((pos - 1.0)[:, None] <= t[None, :]) & (t[None, :] <= (pos + 1.0)[:, None])
    positives = positives & (video[:, None] == b[None, :])
    vn, vs = positives.sum(0) > 0, positives.sum(1) > 0
    v, tx, positives = v[vs], tx[vn], positives[vs][:, vn]
    sims = v @ tx.T
    loss_i = ((sims / tau).softmax(1) * positives).sum(1).log().mean()
    loss_j = ((sims / tau).T.softmax(1) * positives.T).sum(1).log().mean()
    return -(loss_i + loss_j)


def reference_ft(x, video, depth, assignments, tau=0.05):
    valid = (depth > 0) & (assignments >= 0)
    x = F.normalize(x[valid], p=2, dim=-1)
    sims = x @ x.T
    same = (depth[valid, None] == depth[None, valid]) & (video[valid, None] == video[None, valid])
    pos = same & (assignments[valid, None] == assignments[None, valid])
    neg = same & ~(assignments[valid, None] == assignments[None, valid])
    sims = torch.where(pos | neg, sims, -torch.inf)
    return -((sims / tau).softmax(1) * pos).sum(1).log().mean()


def _vna_inputs(seed=0):
    g = torch.Generator().manual_seed(seed)
    n, m = 40, 9
    pos = torch.cat([torch.arange(20) * 0.5 + 0.25, torch.arange(20) * 0.5 + 0.25])
    video = torch.repeat_interleave(torch.arange(2), 20)
    t = torch.rand(m, generator=g) * 12.0  # some narrations beyond every node: no positive
    b = torch.randint(0, 2, (m,), generator=g)
    z = torch.randn(n, 6, generator=g, dtype=torch.float64, requires_grad=True)
    tx = torch.randn(m, 6, generator=g, dtype=torch.float64, requires_grad=True)
    return z, tx, pos.double(), video, t.double(), b


def test_vna_equals_reference_formula_and_gradients():
    z, tx, pos, video, t, b = _vna_inputs()
    ours = vna_loss(z, tx, pos, video, t, b)
    ref = reference_vna(z, tx, pos, video, t, b)
    torch.testing.assert_close(ours.loss, ref, rtol=1e-12, atol=1e-12)
    assert 0 < ours.n_valid_narrations < t.numel() and 0 < ours.n_valid_nodes < z.shape[0]
    g_ours = torch.autograd.grad(ours.loss, (z, tx))
    g_ref = torch.autograd.grad(ref, (z, tx))
    for a, r in zip(g_ours, g_ref, strict=True):
        torch.testing.assert_close(a, r, rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(-(ours.v2t + ours.t2v), ours.loss)


def test_vna_without_positives_is_zero():
    z, tx, pos, video, t, b = _vna_inputs()
    out = vna_loss(z, tx, pos, video, t + 100.0, b)
    assert float(out.loss.detach()) == 0.0 and out.n_valid_nodes == 0
    out.loss.backward()
    assert torch.count_nonzero(z.grad) == 0


def test_ft_equals_reference_formula():
    g = torch.Generator().manual_seed(1)
    n = 50
    x = torch.randn(n, 8, generator=g, dtype=torch.float64, requires_grad=True)
    depth = torch.tensor([0] * 10 + [1] * 26 + [2] * 14)
    video = torch.cat([torch.randint(0, 2, (10,), generator=g),
                       torch.tensor([0] * 13 + [1] * 13 + [0] * 7 + [1] * 7)])
    labels = torch.randint(0, 4, (n,), generator=g)
    assignments = torch.where(depth > 0, video * 4 + labels, -1)
    ours, ref = ft_loss(x, video, depth, assignments), reference_ft(x, video, depth, assignments)
    torch.testing.assert_close(ours, ref, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(torch.autograd.grad(ours, x)[0], torch.autograd.grad(ref, x)[0],
                               rtol=1e-10, atol=1e-12)
