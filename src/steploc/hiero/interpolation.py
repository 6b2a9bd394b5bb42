"""Inverse-squared-distance k-NN interpolation between sorted 1-D grids.

This is PyG's ``knn_interpolate`` (weights ``1 / max(d**2, 1e-16)``, normalised) as the
reference uses it twice: decoder up-sampling (k = 2, §1.9) and the clustering resampling to 32
points (k = 3, §1.10.1). On sorted 1-D grids the k nearest source points of a target lie in a
small window around its insertion point, so callers pass that window of candidate source nodes
instead of running a k-NN search. Section numbers (``§x``) refer to ``docs/hiero.md``.
"""

from __future__ import annotations

import torch
from torch import Tensor

MIN_SQUARED_DISTANCE = 1e-16  # PyG knn_interpolate's clamp


def knn_interpolate_window(
    x_src: Tensor, pos_src: Tensor, pos_dst: Tensor, candidates: Tensor, k: int
) -> Tensor:
    """Interpolate ``x_src`` at ``pos_dst`` from the ``k`` nearest nodes among ``candidates``.

    ``candidates`` is (n_dst, W) flat source ids, -1 where a window slot falls outside the
    target's video; fewer than ``k`` valid candidates use only those. Ties keep the candidate that
    comes first in the window.
    """
    valid = candidates >= 0
    safe = candidates.clamp(min=0)
    squared = (pos_src[safe] - pos_dst[:, None]) ** 2
    squared = squared.masked_fill(~valid, float("inf"))
    squared, order = torch.sort(squared, dim=1, stable=True)
    chosen = safe.gather(1, order[:, :k])
    weights = 1.0 / squared[:, :k].clamp(min=MIN_SQUARED_DISTANCE)  # invalid slots: 1/inf = 0
    numerator = weights[:, :1] * x_src[chosen[:, 0]]
    for slot in range(1, chosen.shape[1]):  # accumulate instead of materialising (n, k, H)
        numerator = numerator + weights[:, slot : slot + 1] * x_src[chosen[:, slot]]
    return numerator / weights.sum(1, keepdim=True)


def window_candidates(
    anchor: Tensor, window: range, video: Tensor, counts: Tensor, offsets: Tensor
) -> Tensor:
    """(n, W) flat ids of the source nodes ``anchor + w`` (w in ``window``) of each target's video.

    ``anchor`` is a video-local source index; ``counts``/``offsets`` describe the source videos;
    slots outside 0..counts-1 are -1.
    """
    shifts = torch.tensor(list(window), device=anchor.device)
    local = anchor[:, None] + shifts
    valid = (local >= 0) & (local < counts[video][:, None])
    return torch.where(valid, offsets[video][:, None] + local, torch.full_like(local, -1))
