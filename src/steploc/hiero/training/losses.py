"""The two HiERO training losses (training.md §2, reference ``models/tasks/hiero.py:184-363``).

Both are multi-positive InfoNCE losses of the "log of the summed probability of the positives"
form, ``log sum_pos softmax = logsumexp(pos) - logsumexp(all)``, written with ``logsumexp`` here
(mathematically equal to the reference's ``log((softmax * mask).sum())``, and free of its
underflow to ``log 0``).

* :func:`vna_loss`, L_vna: depth-0 nodes after the projector against the narrations whose single
  timestamp lies within +-1 s (``2**0 / alpha``) of the node position, same sample only. Every
  other (node, narration) pair of the batch is a negative; nodes and narrations without any
  positive are removed everywhere. ``sym`` mode: the SUM of the two directions.
* :func:`ft_loss`, L_ft: the raw decoder outputs at depths >= 1. Positives are the nodes of the
  same cluster (the node itself included), candidates the nodes of the same sample and depth;
  one mean over all depth >= 1 nodes.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor


@dataclass(frozen=True)
class VNAResult:
    loss: Tensor  # -(v2t + t2v) ("sym")
    v2t: Tensor  # mean over valid nodes of log P(positives | node)
    t2v: Tensor  # mean over valid narrations of log P(positives | narration)
    positives: Tensor  # (n_nodes, n_narrations) bool mask BEFORE filtering
    n_valid_nodes: int
    n_valid_narrations: int


def vna_positives(
    pos: Tensor, video: Tensor, times: Tensor, narration_video: Tensor, alpha: float = 1.0
) -> Tensor:
    """(n, M) bool: ``pos - 1/alpha <= t <= pos + 1/alpha`` (float32, both ends inclusive) and
    same sample; the two-sided test of the reference, so float32 boundary pairs agree exactly."""
    extent = torch.tensor(1.0 / alpha, dtype=pos.dtype, device=pos.device)
    lower, upper = pos - extent, pos + extent
    times = times.to(pos.dtype)
    inside = (lower[:, None] <= times[None, :]) & (times[None, :] <= upper[:, None])
    return inside & (video[:, None] == narration_video[None, :])


def vna_loss(
    node_z: Tensor,
    text_z: Tensor,
    pos: Tensor,
    video: Tensor,
    times: Tensor,
    narration_video: Tensor,
    temperature: float = 0.05,
    alpha: float = 1.0,
) -> VNAResult:
    """L_vna on depth-0 nodes.

    ``node_z`` (n, F): ``projector`` of the depth-0 decoder output; ``text_z`` (M, F):
    ``text_proj`` of the narration vectors; ``pos`` (n,) node positions in seconds; ``video`` (n,)
    and ``narration_video`` (M,) the sample index inside the batch; ``times`` (M,) narration
    timestamps in seconds. Without any positive pair the loss is 0 (the reference gives NaN).
    """
    positives = vna_positives(pos, video, times, narration_video, alpha)
    valid_nodes = positives.any(1)
    valid_narrations = positives.any(0)
    n_nodes, n_narr = int(valid_nodes.sum()), int(valid_narrations.sum())
    if n_nodes == 0:
        zero = node_z.sum() * 0.0 + text_z.sum() * 0.0
        return VNAResult(zero, zero, zero, positives, 0, 0)
    # plain division, no eps, as the reference (:325-326)
    v = node_z / node_z.norm(dim=-1, keepdim=True)
    t = text_z / text_z.norm(dim=-1, keepdim=True)
    v, t = v[valid_nodes], t[valid_narrations]
    mask = positives[valid_nodes][:, valid_narrations]
    logits = (v @ t.T) / temperature
    negative_inf = torch.tensor(float("-inf"), dtype=logits.dtype, device=logits.device)
    v2t = (
        torch.where(mask, logits, negative_inf).logsumexp(1) - logits.logsumexp(1)
    ).mean()
    t2v = (
        torch.where(mask, logits, negative_inf).logsumexp(0) - logits.logsumexp(0)
    ).mean()
    return VNAResult(-(v2t + t2v), v2t, t2v, positives, n_nodes, n_narr)


def ft_loss(
    features: Tensor,
    video: Tensor,
    depth: Tensor,
    assignments: Tensor,
    temperature: float = 0.05,
) -> Tensor:
    """L_ft over the nodes with ``depth > 0`` and ``assignments >= 0``.

    ``features`` are the raw decoder outputs (no projector), ``assignments`` the cluster ids
    (``sample * 4 + label``; -1 marks nodes without a cluster). Computed block by block (one
    block per sample and depth, the only pairs that are not masked out), which equals the
    reference's full masked matrix.
    """
    valid = (depth > 0) & (assignments >= 0)
    if not bool(valid.any()):
        return features.sum() * 0.0
    x = F.normalize(features[valid], p=2, dim=-1, eps=1e-12)
    video, depth, assignments = video[valid], depth[valid], assignments[valid]
    group = depth * (int(video.max()) + 1) + video
    order = torch.argsort(group, stable=True)
    sizes = torch.unique_consecutive(group[order], return_counts=True)[1].tolist()
    rows = []
    for block, labels in zip(torch.split(x[order], sizes), torch.split(assignments[order], sizes),
                             strict=True):
        logits = (block @ block.T) / temperature
        same = labels[:, None] == labels[None, :]
        positive = torch.where(same, logits, torch.full_like(logits, float("-inf")))
        rows.append(positive.logsumexp(1) - logits.logsumexp(1))
    return -torch.cat(rows).mean()
