"""ABD-style segmentation: action boundary detection + bottom-up merging.

After Du, Wang, Zhou, Wang, "Fast and Unsupervised Action Boundary Detection for Action
Segmentation", CVPR 2022 (``docs/segmenters.md`` §2). There is no official code; this is an
implementation from the paper's description, so report it as "ABD-style".

1. L2-normalise the rows (so a boundary is not pulled toward the step whose features have
   the smaller norm, and every row weighs the same in the means below), then smooth them with a centred moving average of ``L = max(1, round(alpha·N/K))`` rows
   (the first and last rows repeated beyond the ends).
2. ``s_t = cos(g_t, g_{t+1})`` of adjacent smoothed rows (a cut between rows t and t + 1).
3. Boundaries at the local minima of ``s`` by non-maximum suppression: ``t`` is kept when
   ``s_t`` is the smallest value within ``L // 2`` positions on either side; equal minima
   closer than that keep the earliest. If that gives fewer than K segments, the lowest
   remaining ``s_t`` are added as boundaries until there are K (recorded in ``note_``).
4. Represent each segment by the mean of its (normalised, unsmoothed) rows and repeatedly merge the two
   groups with the highest cosine similarity, ANY two, adjacent or not, so repeated steps
   share a label; the merged mean is the size-weighted mean (the mean of all its rows). Stop
   at K labels. Ties go to the first pair in row-major order.

Cost: O(N·D) for 1-3, O(M²·D + M²·(M - K)) for 4 with M initial segments (M ≈ N/L·2).
"""

from __future__ import annotations

import numpy as np
from scipy.ndimage import minimum_filter1d, uniform_filter1d

from steploc.schema import segmenter_defaults
from steploc.segment.base import (
    DEFAULT_MEMORY_LIMIT_MB,
    StepSegmenter,
    relabel_by_first_occurrence,
    unit_rows,
)

_DEFAULTS = segmenter_defaults("abd")


def window_length(n_rows: int, n_clusters: int, alpha: float) -> int:
    """The smoothing / suppression window ``L = max(1, round(alpha·N/K))`` rows."""
    return max(1, int(round(alpha * n_rows / n_clusters)))


def moving_average(x: np.ndarray, length: int) -> np.ndarray:
    """Moving average of ``length`` rows (float64), the edge rows repeated beyond the ends
    (``scipy.ndimage.uniform_filter1d``, ``mode="nearest"``), so every row averages ``length``
    rows and the ends show no artificial change."""
    x = x.astype(np.float64)
    if length <= 1:
        return x
    return uniform_filter1d(x, size=length, axis=0, mode="nearest")


def adjacent_similarity(g: np.ndarray) -> np.ndarray:
    """``cos(g_t, g_{t+1})`` for ``t = 0 .. N-2`` (zero rows have similarity 0)."""
    unit = unit_rows(g)
    return np.einsum("ij,ij->i", unit[:-1], unit[1:])


def suppress_non_minima(s: np.ndarray, radius: int) -> np.ndarray:
    """Positions ``t`` where ``s_t`` is the minimum within ``radius`` on either side; among
    equal minima closer than ``radius + 1``, the earliest (sorted positions)."""
    if s.size == 0:
        return np.zeros(0, dtype=np.int64)
    if radius < 1:
        return np.arange(s.size, dtype=np.int64)
    is_min = s <= minimum_filter1d(s, size=2 * radius + 1, mode="nearest")
    kept: list[int] = []
    for t in np.flatnonzero(is_min):
        if kept and t - kept[-1] <= radius and s[t] == s[kept[-1]]:
            continue
        kept.append(int(t))
    return np.asarray(kept, dtype=np.int64)


def merge_segments(x: np.ndarray, seg: np.ndarray, k: int) -> np.ndarray:
    """Group the segments ``seg`` (a segment index per row) into ``k`` labels by repeatedly
    merging the two most similar groups (cosine of the group means, any two)."""
    m = int(seg.max()) + 1
    sums = np.zeros((m, x.shape[1]), dtype=np.float64)
    np.add.at(sums, seg, x)
    sizes = np.bincount(seg, minlength=m).astype(np.float64)
    unit = unit_rows(sums / sizes[:, None])
    sim = unit @ unit.T
    np.fill_diagonal(sim, -np.inf)
    alive = np.ones(m, dtype=bool)
    group = np.arange(m)
    for _ in range(m - k):
        # sim is symmetric, so the first maximum in row-major order has a < b.
        a, b = divmod(int(np.argmax(sim)), m)
        group[group == b] = a
        sums[a] += sums[b]
        sizes[a] += sizes[b]
        alive[b] = False
        unit[a] = unit_rows((sums[a] / sizes[a])[None, :])[0]
        row = unit @ unit[a]
        row[~alive] = -np.inf
        row[a] = -np.inf
        sim[a, :] = row
        sim[:, a] = row
        sim[b, :] = -np.inf
        sim[:, b] = -np.inf
    return group[seg]


class ABDSegmenter(StepSegmenter):
    """ABD-style boundaries + bottom-up merging (see the module docstring).

    Parameters (defaults from the segmenters schema): ``alpha`` (0.5: the window is
    ``alpha·N/K`` rows; the paper found 0.4-0.6 best), ``memory_limit_mb`` (4000).
    Fitted: ``labels_`` (numbered by first occurrence), ``n_clusters_``, ``note_``,
    ``window_`` (L), ``boundaries_`` (row index where each initial segment after the first
    starts) and ``n_segments_`` (initial segments before merging).
    """

    method = "abd"

    def __init__(self, n_clusters: int = 8, alpha: float = _DEFAULTS["alpha"],
                 memory_limit_mb: float | None = DEFAULT_MEMORY_LIMIT_MB):
        self.n_clusters = n_clusters
        self.alpha = alpha
        self.memory_limit_mb = memory_limit_mb

    def _max_segments(self, n_samples: int) -> int:
        radius = window_length(n_samples, self.n_clusters, self.alpha) // 2
        return int(min(n_samples, max(self.n_clusters, n_samples // (radius + 1) + 1)))

    def estimated_memory_bytes(self, n_samples: int, n_features: int) -> int:
        m = self._max_segments(n_samples)
        # float64: input copy, cumulative sums, smoothed rows, their unit rows; the M x M similarity.
        return int(8 * n_samples * n_features * 5 + 8 * 2 * m * m + 8 * m * n_features * 3
                   + 64 * n_samples)

    def _segment(self, X: np.ndarray) -> tuple[np.ndarray, str]:
        if not self.alpha > 0:
            raise ValueError(f"alpha must be positive, got {self.alpha}")
        n, k = X.shape[0], int(self.n_clusters)
        length = window_length(n, k, self.alpha)
        x = unit_rows(X.astype(np.float64))
        s = adjacent_similarity(moving_average(x, length))
        cuts = suppress_non_minima(s, length // 2)
        note = ""
        if len(cuts) + 1 < k:
            found = len(cuts) + 1
            extra = np.setdiff1d(np.arange(len(s)), cuts)
            order = np.argsort(s[extra], kind="stable")
            cuts = np.sort(np.r_[cuts, extra[order][: k - found]])
            note = (f"boundary detection found {found} segments (< K={k}, window L={length}); "
                    f"added the {k - found} lowest-similarity boundaries")
        seg = np.zeros(n, dtype=np.int64)
        seg[cuts + 1] = 1
        seg = np.cumsum(seg)
        self.window_ = length
        self.boundaries_ = cuts + 1
        self.n_segments_ = int(seg[-1]) + 1
        labels = merge_segments(x, seg, k)
        return relabel_by_first_occurrence(labels), note
