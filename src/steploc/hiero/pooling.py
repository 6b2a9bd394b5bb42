"""Temporal pooling (encoder) and k-NN up-sampling (decoder) between adjacent depths."""

from __future__ import annotations

from torch import Tensor

from .interpolation import knn_interpolate_window, window_candidates
from .levels import Level


def neighbour_average_pool(x: Tensor, level: Level) -> tuple[Tensor, Level]:
    """``pool: mean`` of the reference (§1.7): smooth, then keep even indices.

    The reference averages over a radius-1.5 graph on ``indices`` that already has self loops,
    and PyG's ``avg_pool_neighbor_x`` adds them again, so the node itself counts twice:
    ``(x[i-1] + 2 x[i] + x[i+1]) / 4`` inside a video, ``(2 x[0] + x[1]) / 3`` at the ends,
    ``x`` alone for a single node. Only the kept (even) nodes are computed.
    """
    coarse = level.coarsen()
    kept = level.kept_by_pooling()
    index = level.index[kept]
    has_left = (index > 0).unsqueeze(1)
    has_right = (index < level.last_index()[kept]).unsqueeze(1)
    last = level.num_nodes - 1
    left = x[(kept - 1).clamp(min=0)] * has_left
    right = x[(kept + 1).clamp(max=last)] * has_right
    total = left + 2 * x[kept] + right
    count = 2 + has_left.to(x.dtype) + has_right.to(x.dtype)
    return total / count, coarse


# The 2 nearest coarse nodes of fine node i lie among coarse nodes i//2 - 1 .. i//2 + 2: coarse
# node j sits at fine node 2j, and on sorted positions the 2-NN are adjacent to the insertion point.
_UPSAMPLE_WINDOW = range(-1, 3)


def knn_upsample(x_coarse: Tensor, coarse: Level, fine: Level) -> Tensor:
    """PyG ``knn_interpolate(k=2)`` from depth d+1 to depth d on positions pos_{d+1} -> pos_d (§1.9.1).

    An even node coincides with its coarse node (weight 1e16: a copy); an odd node mixes its
    two nearest coarse nodes.
    """
    candidates = window_candidates(
        fine.index // 2, _UPSAMPLE_WINDOW, fine.video, coarse.counts, coarse.offsets
    )
    return knn_interpolate_window(x_coarse, coarse.pos, fine.pos, candidates, k=2)
