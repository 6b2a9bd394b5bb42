"""TW-FINCH: temporally weighted first-neighbour clustering (``docs/segmenters.md`` §3).

Written from the paper (Sarfraz et al., "Temporally-Weighted Hierarchical Clustering for
Unsupervised Action Segmentation", CVPR 2021) and the description in
``tests/fixtures/twfinch_reference/README.md``; no code of the authors' repository is used
(its licence text conflicts). Its partitions equal the authors' outputs on the Breakfast
sample of that fixture (tests/segment/test_twfinch_parity.py).

1. Append the normalised time ``t_i = (i + 1) / N`` (float32) to the float32 features.
2. Distance ``D(i, j) = cosdist(x_i, x_j) · |t_i - t_j|`` (cosine distance of the feature
   columns only, clipped to [0, 2]), ``D(i, i) = inf``; first neighbour ``κ_i = argmin_j``
   (the first index on ties).
3. Link ``i`` and ``κ_i``: the connected components are a partition (equivalently, the
   non-zero pattern of ``(F + I)(F + I)ᵀ`` without its diagonal, ``F`` the first-neighbour
   matrix).
4. Replace each cluster by the mean of its frames (features and time together, summed in
   float32 in frame order, divided in float64) and repeat 2-3 until one cluster would remain.
5. Exactly K: take the partition with K clusters if there is one, else start from the
   coarsest partition with more than K clusters and merge one pair per round: the first
   neighbours with the smallest time-weighted distance, means recomputed from the frames.
   When K exceeds the first (finest) partition, that partition is returned and ``note_``
   says so.

First neighbours are computed by blocks of the upper triangle (memory O(block²), no N x N
matrix); the merge rounds update the first neighbours incrementally (only the clusters
whose neighbour merged are recomputed), so a round costs O(M·D) instead of O(M²·D).
"""

from __future__ import annotations

import numpy as np
from scipy import sparse
from scipy.sparse.csgraph import connected_components

from steploc.segment.base import (
    DEFAULT_MEMORY_LIMIT_MB,
    StepSegmenter,
    relabel_by_first_occurrence,
    unit_rows,
)

#: Rows (and columns) of one block of the first-neighbour search; 512 x 512 keeps the block
#: buffers in cache (fastest measured on 2 cores), ~1 MiB each in float32.
BLOCK = 512


def time_column(n: int) -> np.ndarray:
    """Normalised time ``(i + 1) / n`` of each of ``n`` rows, float32."""
    return ((np.arange(n, dtype=np.float64) + 1.0) / n).astype(np.float32)


def first_neighbours(features: np.ndarray, times: np.ndarray,
                     block: int = BLOCK) -> tuple[np.ndarray, np.ndarray]:
    """``(kappa, dist)``: each row's first neighbour under the time-weighted cosine distance
    and that distance, computed in the dtype of ``features`` over blocks of the upper
    triangle (each pair once). Ties go to the smallest index."""
    feats = np.ascontiguousarray(features)
    unit = unit_rows(feats)
    times = np.asarray(times, dtype=unit.dtype)
    m = len(unit)
    if m < 2:
        raise ValueError("first neighbours need at least 2 rows")
    dtype = unit.dtype.type
    one, zero, two = dtype(1), dtype(0), dtype(2)
    best = np.full(m, np.inf, dtype=unit.dtype)
    kappa = np.zeros(m, dtype=np.int64)
    for i0 in range(0, m, block):
        i1 = min(i0 + block, m)
        ui, ti = unit[i0:i1], times[i0:i1, None]
        for j0 in range(i0, m, block):
            j1 = min(j0 + block, m)
            d = ui @ unit[j0:j1].T
            np.subtract(one, d, out=d)
            np.clip(d, zero, two, out=d)
            w = np.subtract(ti, times[None, j0:j1])
            np.abs(w, out=w)
            d *= w
            if i0 == j0:
                np.fill_diagonal(d, np.inf)
            # Rows i0:i1 over columns j0:j1 (blocks arrive in ascending column order).
            low = d.min(axis=1)
            upd = np.flatnonzero(low < best[i0:i1])
            if upd.size:
                best[i0 + upd] = low[upd]
                kappa[i0 + upd] = j0 + d[upd].argmin(axis=1)
            # Rows j0:j1 over columns i0:i1 (the mirror image; also ascending).
            if j0 > i0:
                low = d.min(axis=0)
                upd = np.flatnonzero(low < best[j0:j1])
                if upd.size:
                    best[j0 + upd] = low[upd]
                    kappa[j0 + upd] = i0 + d[:, upd].argmin(axis=0)
    return kappa, best


def _components(kappa: np.ndarray) -> np.ndarray:
    """Connected components of the first-neighbour links, numbered by first member."""
    m = len(kappa)
    graph = sparse.coo_matrix((np.ones(m, dtype=np.int8), (np.arange(m), kappa)), shape=(m, m))
    _, labels = connected_components(graph, directed=True, connection="weak")
    return relabel_by_first_occurrence(labels)


def _row_sum(rows: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """Sum of ``rows`` (2-D, C-contiguous) accumulated one row after the other in their dtype:
    ``np.add.reduce`` over axis 0 adds whole rows in order, the same float32 result as
    ``np.add.at`` (``np.add.reduceat`` is not: it sums in another order)."""
    return np.add.reduce(rows, axis=0, out=out)


def _cluster_means(data: np.ndarray, labels: np.ndarray, n_clusters: int) -> np.ndarray:
    """Mean row of each cluster: sums accumulated in ``data``'s dtype in row order, then
    divided by the counts in float64 (float32 / int64).

    The rows are grouped by a stable sort (frame order kept inside each cluster) and each
    group summed row by row, which gives the sums of ``np.add.at(sums, labels, data)`` bit
    for bit at a fraction of its cost (it is called on all N frames at every level)."""
    counts = np.bincount(labels, minlength=n_clusters)
    grouped = data[np.argsort(labels, kind="stable")]
    sums = np.empty((n_clusters, data.shape[1]), dtype=data.dtype)
    start = 0
    for cluster, end in enumerate(np.cumsum(counts).tolist()):
        _row_sum(grouped[start:end], out=sums[cluster])
        start = end
    return sums / counts[:, None]


def _with_time(X: np.ndarray) -> np.ndarray:
    """The float32 features with the float32 time column appended."""
    n = X.shape[0]
    return np.concatenate([np.asarray(X, dtype=np.float32), time_column(n)[:, None]], axis=1)


def twfinch_partitions(X: np.ndarray, block: int = BLOCK) -> tuple[list[np.ndarray], np.ndarray]:
    """``(partitions, data)``: the first-neighbour hierarchy of ``X`` (finest first; frame
    labels numbered by first frame) and the float32 features + time it was built from."""
    data = _with_time(X)
    kappa, _ = first_neighbours(data[:, :-1], data[:, -1], block)
    labels = _components(kappa)
    partitions = [labels]
    while True:
        n_clusters = int(labels.max()) + 1
        if n_clusters < 2:
            break
        means = _cluster_means(data, labels, n_clusters)
        kappa, _ = first_neighbours(means[:, :-1], means[:, -1], block)
        merged = _components(kappa)
        n_next = int(merged.max()) + 1
        if n_next <= 1 or n_next >= n_clusters:
            break
        labels = merged[labels]
        partitions.append(labels)
    return partitions, data


def _distances_to(unit: np.ndarray, times: np.ndarray, r: int, alive: np.ndarray) -> np.ndarray:
    d = unit @ unit[r]
    np.subtract(1.0, d, out=d)
    np.clip(d, 0.0, 2.0, out=d)
    d *= np.abs(times - times[r])
    d[~alive] = np.inf
    d[r] = np.inf
    return d


def merge_to_k(data: np.ndarray, labels: np.ndarray, k: int, block: int = BLOCK) -> np.ndarray:
    """Merge the clusters of ``labels`` one pair per round down to ``k``: the pair of first
    neighbours with the smallest time-weighted distance, means recomputed from the frames."""
    labels = np.array(labels, dtype=np.int64)
    m = int(labels.max()) + 1
    if k >= m:
        return relabel_by_first_occurrence(labels)
    means = _cluster_means(data, labels, m)
    times = np.ascontiguousarray(means[:, -1])
    unit = unit_rows(np.ascontiguousarray(means[:, :-1]))
    kappa, best = first_neighbours(means[:, :-1], times, block)
    best = best.astype(np.float64)
    alive = np.ones(m, dtype=bool)
    for _ in range(m - k):
        i = int(np.argmin(best))
        j = int(kappa[i])
        a, b = min(i, j), max(i, j)
        labels[labels == b] = a
        frames = np.flatnonzero(labels == a)
        mean = _row_sum(data[frames]) / len(frames)
        times[a] = mean[-1]
        unit[a] = unit_rows(np.ascontiguousarray(mean[None, :-1]))[0]
        alive[b] = False
        best[b] = np.inf
        d_a = _distances_to(unit, times, a, alive)
        stale = alive & ((kappa == a) | (kappa == b))
        stale[a] = False
        closer = alive & ((d_a < best) | ((d_a == best) & (a < kappa)))
        closer[a] = False
        kappa[closer] = a
        best[closer] = d_a[closer]
        for r in np.flatnonzero(stale):
            d_r = _distances_to(unit, times, int(r), alive)
            kappa[r] = int(np.argmin(d_r))
            best[r] = d_r[kappa[r]]
        kappa[a] = int(np.argmin(d_a))
        best[a] = d_a[kappa[a]]
    return relabel_by_first_occurrence(labels)


class TWFinchSegmenter(StepSegmenter):
    """TW-FINCH as a scikit-learn estimator (see the module docstring); parameter-free
    besides ``n_clusters`` and ``memory_limit_mb`` (4000).

    Fitted: ``labels_`` (numbered by first frame), ``n_clusters_``, ``note_``,
    ``partitions_`` (the hierarchy, finest first, one label per row each) and
    ``partition_sizes_``. Repeated steps can share a label when their means are first
    neighbours. Cost: Θ(N²·D) time for the first level, O(N·D + block²) memory.
    """

    method = "twfinch"

    def __init__(self, n_clusters: int = 8,
                 memory_limit_mb: float | None = DEFAULT_MEMORY_LIMIT_MB):
        self.n_clusters = n_clusters
        self.memory_limit_mb = memory_limit_mb

    def estimated_memory_bytes(self, n_samples: int, n_features: int) -> int:
        row = n_features + 1
        return int(n_samples * row * (4 * 4 + 8 * 2)  # float32 copies; float64 level means
                   + 8 * 8 * n_samples + 8 * 8 * BLOCK * BLOCK + (16 << 20))

    def _segment(self, X: np.ndarray) -> tuple[np.ndarray, str]:
        partitions, data = twfinch_partitions(X)
        sizes = [int(p.max()) + 1 for p in partitions]
        self.partitions_ = partitions
        self.partition_sizes_ = sizes
        k = int(self.n_clusters)
        if k in sizes:
            return partitions[sizes.index(k)].copy(), ""
        if k > sizes[0]:
            return partitions[0].copy(), (
                f"K={k} exceeds the {sizes[0]} clusters of TW-FINCH's first partition; "
                f"using {sizes[0]}")
        start = max(i for i, s in enumerate(sizes) if s >= k)
        return merge_to_k(data, partitions[start], k), ""
