"""k-means of the L2-normalised rows: the simplest baseline, with no temporal prior.

The cost is O(N·D·K) per iteration and restart (``n_init`` = 10 restarts of ~40 iterations),
about 2.8 s at N = 10,000, D = 256, K = 8 on one thread: too slow for one video. Above
``reduce_above`` rows (default 2000, as spectral and kcpd) the unit rows are therefore first
averaged in contiguous blocks (:func:`steploc.segment.reduce.reduce_nodes`) and k-means runs
on the block means weighted by their block sizes, which is k-means of the rows under the
constraint that the rows of a block share a label (the weighted objective differs from the
row objective by the within-block scatter, a constant). Every row gets its block's label;
``note_`` and ``n_rows_clustered_`` record it. Up to ``reduce_above`` rows the result is that
of plain k-means, bit for bit.
"""

from __future__ import annotations

import warnings

import numpy as np
from sklearn.cluster import KMeans
from sklearn.exceptions import ConvergenceWarning

from steploc.schema import segmenter_defaults
from steploc.segment.base import (
    DEFAULT_MEMORY_LIMIT_MB,
    StepSegmenter,
    relabel_by_first_occurrence,
    unit_rows,
)
from steploc.segment.reduce import expand_labels, reduce_nodes

_DEFAULTS = segmenter_defaults("kmeans")


class KMeansStepSegmenter(StepSegmenter):
    """scikit-learn ``KMeans`` (k-means++, Lloyd) on the L2-normalised rows (float64).

    Parameters (defaults from the segmenters schema): ``n_init`` (10 restarts, the lowest
    inertia wins), ``random_state`` (42), ``reduce_above`` (2000: more rows are block-averaged
    down to that many first, see the module docstring; ``None`` = always all rows),
    ``memory_limit_mb`` (4000). Repeated steps share a label, and segments need not be
    contiguous. Labels are numbered in order of first occurrence. With fewer distinct rows
    than K, k-means returns fewer clusters: ``note_`` says so and ``n_clusters_`` is the
    number returned.

    Fitted: ``labels_``, ``n_clusters_``, ``note_`` and ``n_rows_clustered_``.
    """

    method = "kmeans"

    def __init__(self, n_clusters: int = 8, n_init: int = _DEFAULTS["n_init"],
                 random_state: int = _DEFAULTS["random_state"],
                 reduce_above: int | None = _DEFAULTS["reduce_above"],
                 memory_limit_mb: float | None = DEFAULT_MEMORY_LIMIT_MB):
        self.n_clusters = n_clusters
        self.n_init = n_init
        self.random_state = random_state
        self.reduce_above = reduce_above
        self.memory_limit_mb = memory_limit_mb

    def estimated_memory_bytes(self, n_samples: int, n_features: int) -> int:
        m = self.n_rows_to_cluster(n_samples)
        # float64: the input copy and its unit rows (N x D); block sums and means, KMeans'
        # centred copy (m x D); its labels, distances and chunked buffers; the row groups.
        return int(8 * n_features * (2 * n_samples + 3 * m)
                   + 8 * m * (4 * self.n_clusters + 8) + 16 * n_samples + (32 << 20))

    def _segment(self, X: np.ndarray) -> tuple[np.ndarray, str]:
        if self.reduce_above is not None and self.reduce_above < 2:
            raise ValueError(f"reduce_above must be >= 2 or None, got {self.reduce_above}")
        n = X.shape[0]
        unit = unit_rows(X.astype(np.float64))
        m = self.n_rows_to_cluster(n)
        note = ""
        groups = weights = None
        if m < n:
            unit, groups = reduce_nodes(unit, m)
            sizes = np.bincount(groups)
            weights = sizes.astype(np.float64)
            size_text = (f"{sizes.min()}" if sizes.min() == sizes.max()
                         else f"{sizes.min()}-{sizes.max()}")
            note = (f"N={n} rows > reduce_above={self.reduce_above}: k-means clustered {m} "
                    f"means of contiguous blocks of {size_text} rows, weighted by block size "
                    f"(each row gets its block's label)")
        self.n_rows_clustered_ = m
        model = KMeans(n_clusters=self.n_clusters, n_init=self.n_init,
                       random_state=self.random_state)
        with warnings.catch_warnings():
            # Fewer distinct points than K: recorded in note_ instead (base class).
            warnings.simplefilter("ignore", ConvergenceWarning)
            labels = model.fit_predict(unit, sample_weight=weights)
        if groups is not None:
            labels = expand_labels(labels, groups)
        labels = relabel_by_first_occurrence(labels)
        n_used = len(np.unique(labels))
        if n_used < self.n_clusters:
            n_distinct = len(np.unique(unit, axis=0))
            note = "; ".join(filter(None, [note, (
                f"k-means found only {n_used} clusters for K={self.n_clusters} "
                f"({n_distinct} distinct normalised rows clustered); using {n_used}")]))
        return labels, note
