"""HiERO's temporal pooling, the one implementation for the ``raw`` model and the network.

One level smooths each node with its neighbours inside its own video,
``(x[i-1] + 2 x[i] + x[i+1]) / 4`` (``(2 x[0] + x[1]) / 3`` and ``(x[n-2] + 2 x[n-1]) / 3`` at
the ends, ``x`` alone for a one-node video), then keeps the even nodes. The reference averages
over a radius-1.5 graph that already has self loops and PyG's ``avg_pool_neighbor_x`` adds them
again, so the node itself counts twice (docs/hiero.md, "Pooling"). Only the kept nodes are
computed.

Works on numpy arrays and on torch tensors (any device) with the same code, so a CPU-only job
never imports torch.
"""

from __future__ import annotations

from typing import Any


def _is_torch(x: Any) -> bool:
    return type(x).__module__.split(".", 1)[0] == "torch"


def pool_level(x, index, last_index):
    """One pooling level of a batch of concatenated videos.

    ``x`` (n, D); ``index`` (n,) integer position of each row inside its video; ``last_index``
    (n,) the position of the last row of that row's video. Returns the pooled rows at the even
    positions, in order.
    """
    kept: Any
    before: Any
    after: Any
    has_left: Any
    has_right: Any
    count: Any
    if _is_torch(x):
        import torch

        kept = torch.nonzero(index % 2 == 0).squeeze(1)
        before, after = (kept - 1).clamp(min=0), (kept + 1).clamp(max=x.shape[0] - 1)
        has_left = (index[kept] > 0).unsqueeze(1)
        has_right = (index[kept] < last_index[kept]).unsqueeze(1)
        count = 2 + has_left.to(x.dtype) + has_right.to(x.dtype)
    else:
        import numpy as np

        kept = np.flatnonzero(index % 2 == 0)
        before, after = np.maximum(kept - 1, 0), np.minimum(kept + 1, x.shape[0] - 1)
        has_left = (index[kept] > 0)[:, None]
        has_right = (index[kept] < last_index[kept])[:, None]
        count = (2 + has_left.astype(x.dtype) + has_right.astype(x.dtype))
    total = x[before] * has_left + 2 * x[kept] + x[after] * has_right
    return total / count


def pool_video(x, levels: int):
    """``levels`` pooling levels of one video's ``(T, D)`` features: ``ceil(T / 2**levels)`` rows."""
    index: Any
    for _ in range(levels):
        n = x.shape[0]
        if _is_torch(x):
            import torch

            index = torch.arange(n, device=x.device)
        else:
            import numpy as np

            index = np.arange(n)
        x = pool_level(x, index, index * 0 + (n - 1))
    return x
