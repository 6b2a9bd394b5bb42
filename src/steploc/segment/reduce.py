"""Fewer rows for the clustering: average contiguous blocks, then copy labels back.

``reduce_nodes(X, max_nodes)`` splits the N rows into ``m = min(N, max_nodes)`` contiguous
blocks of ``floor(N/m)`` or ``ceil(N/m)`` rows (as even as possible, in temporal order) and
returns the block means with ``groups``, the block index of every row (non-decreasing, length
N). ``expand_labels(labels_reduced, groups)`` gives every row the label of its block.
spectral, kmeans and kcpd use them for their ``reduce_above`` parameter.
"""

from __future__ import annotations

import numpy as np


def block_groups(n_rows: int, n_blocks: int) -> np.ndarray:
    """Block index of each of ``n_rows`` rows for ``n_blocks`` contiguous, near-equal blocks."""
    if n_rows < 0 or n_blocks < 1:
        raise ValueError(f"need n_rows >= 0 and n_blocks >= 1, got {n_rows}, {n_blocks}")
    n_blocks = min(n_blocks, max(n_rows, 1))
    return (np.arange(n_rows, dtype=np.int64) * n_blocks) // max(n_rows, 1)


def reduce_nodes(X, max_nodes: int) -> tuple[np.ndarray, np.ndarray]:
    """``(X_reduced, groups)``: the means of contiguous blocks of rows, at most ``max_nodes``.

    With ``N <= max_nodes`` the rows are returned as they are (a float copy) and ``groups`` is
    ``arange(N)``. Means are computed in float64 and returned in the input's float dtype
    (float64 for integer input).
    """
    X = np.asarray(X)
    if X.ndim != 2:
        raise ValueError(f"need an (N, D) array, got shape {X.shape}")
    if int(max_nodes) != max_nodes or max_nodes < 1:
        raise ValueError(f"max_nodes must be a positive integer, got {max_nodes!r}")
    out_dtype = X.dtype if np.issubdtype(X.dtype, np.floating) else np.dtype(np.float64)
    n = X.shape[0]
    groups = block_groups(n, int(max_nodes))
    if n <= max_nodes:
        return X.astype(out_dtype, copy=True), groups
    starts = np.flatnonzero(np.r_[True, groups[1:] != groups[:-1]])
    sums = np.add.reduceat(X.astype(np.float64, copy=False), starts, axis=0)
    counts = np.diff(np.r_[starts, n])
    return (sums / counts[:, None]).astype(out_dtype, copy=False), groups


def expand_labels(labels_reduced, groups) -> np.ndarray:
    """The label of each original row: ``labels_reduced[groups]`` (int64)."""
    labels_reduced = np.asarray(labels_reduced)
    groups = np.asarray(groups, dtype=np.int64)
    if labels_reduced.ndim != 1:
        raise ValueError("labels_reduced must be 1-D")
    if groups.size and (groups.min() < 0 or groups.max() >= len(labels_reduced)):
        raise ValueError(f"groups index {len(labels_reduced)} reduced rows out of range "
                         f"[{groups.min()}, {groups.max()}]")
    return labels_reduced.astype(np.int64, copy=False)[groups]
