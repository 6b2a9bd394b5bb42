"""Temporal pooling (encoder) and k-NN up-sampling (decoder) between adjacent depths.

Section numbers (``§x``) refer to ``docs/hiero.md``.
"""

from __future__ import annotations

from torch import Tensor

from steploc.pooling import pool_level

from .interpolation import knn_interpolate_window, window_candidates
from .levels import Level


def neighbour_average_pool(x: Tensor, level: Level) -> tuple[Tensor, Level]:
    """``pool: mean`` of the reference (docs/hiero.md, "Pooling"): smooth, then keep even
    indices, per video of the batch (:func:`steploc.pooling.pool_level`)."""
    return pool_level(x, level.index, level.last_index()), level.coarsen()


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
