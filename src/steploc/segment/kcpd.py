"""Kernel change-point detection (``docs/segmenters.md`` §4) with ``ruptures.KernelCPD``.

The exact dynamic programme finds the partition into contiguous segments that minimises
the within-segment kernel variance (KTS-style; Arlot, Celisse & Harchaoui 2019). Its cost
grows as O(N²·D) (about 0.5 s at N = 2000, D = 256, K = 8, single-threaded), so more than
``reduce_above`` rows (default 2000) are first averaged in contiguous blocks
(:func:`steploc.segment.reduce.reduce_nodes`) and the change points fall on block edges;
``note_`` records it.

* ``kernel: cosine`` runs ruptures' *linear* kernel on L2-normalised rows, which is the
  cosine kernel, except that all-zero rows (real features have some) get similarity 0
  instead of ruptures' NaN. ``kernel: rbf`` is ruptures' rbf kernel on the raw rows, with
  ``gamma`` or ruptures' median heuristic (``gamma: null``).
* ``labels: segment`` (default): ``K - 1`` change points, one label per segment.
  ``labels: cluster``: ``round(segment_factor·K)`` segments whose L2-normalised mean rows
  are clustered by k-means into K labels (fixed seed), so repeated steps can share a label;
  with ``segment_factor: 1`` it equals ``segment``.
* ``min_size`` (rows) bounds the segment length; when ``K·min_size > N`` fewer segments are
  possible and ``note_`` says how many were used.
"""

from __future__ import annotations

import math
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
from steploc.segment.memory import GENERAL_FIX
from steploc.segment.reduce import expand_labels, reduce_nodes

_DEFAULTS = segmenter_defaults("kcpd")


class KernelCPDSegmenter(StepSegmenter):
    """Kernel change points (ruptures) + per-segment or clustered labels (module docstring).

    Parameters (defaults from the segmenters schema): ``kernel`` (``cosine``; ``rbf``),
    ``gamma`` (``None``: median heuristic; rbf only), ``min_size`` (2 rows), ``labels``
    (``segment``; ``cluster``), ``segment_factor`` (1), ``n_init`` (10) and
    ``random_state`` (42) of the k-means of ``labels: cluster``, ``reduce_above`` (2000;
    ``None`` = always exact), ``memory_limit_mb`` (4000).

    Fitted: ``labels_``, ``n_clusters_``, ``note_``, ``change_points_`` (row index where
    each segment after the first starts), ``n_segments_`` and ``n_rows_clustered_``.
    """

    method = "kcpd"

    def __init__(self, n_clusters: int = 8, kernel: str = _DEFAULTS["kernel"],
                 gamma: float | None = _DEFAULTS["gamma"],
                 min_size: int = _DEFAULTS["min_size"], labels: str = _DEFAULTS["labels"],
                 segment_factor: float = _DEFAULTS["segment_factor"],
                 n_init: int = _DEFAULTS["n_init"],
                 random_state: int = _DEFAULTS["random_state"],
                 reduce_above: int | None = _DEFAULTS["reduce_above"],
                 memory_limit_mb: float | None = DEFAULT_MEMORY_LIMIT_MB):
        self.n_clusters = n_clusters
        self.kernel = kernel
        self.gamma = gamma
        self.min_size = min_size
        self.labels = labels
        self.segment_factor = segment_factor
        self.n_init = n_init
        self.random_state = random_state
        self.reduce_above = reduce_above
        self.memory_limit_mb = memory_limit_mb

    def _n_rows(self, n_samples: int) -> int:
        if self.reduce_above is None or n_samples <= self.reduce_above:
            return int(n_samples)
        return int(self.reduce_above)

    def _n_segments_wanted(self) -> int:
        if self.labels == "cluster":
            return max(int(self.n_clusters), int(round(self.segment_factor * self.n_clusters)))
        return int(self.n_clusters)

    def estimated_memory_bytes(self, n_samples: int, n_features: int) -> int:
        m = self._n_rows(n_samples)
        k = self._n_segments_wanted()
        rows = 8 * n_features * (3 * n_samples + 2 * m)  # float64 copies, reduced rows
        dp = 12 * (m + 1) * (k + 1)  # ruptures' cost and path matrices
        # rbf with the median heuristic: ruptures builds the Gram matrix in fit; at its peak
        # the condensed pdist (4·m² bytes), its squareform (8·m²) and exp of it (8·m²) are
        # alive together; 24·m² leaves room for np.median's copy of the condensed form.
        gram = 24 * m * m if self.kernel == "rbf" and self.gamma is None else 0
        return int(rows + dp + gram + 64 * n_samples + (16 << 20))

    def _memory_fix(self) -> str:
        return (f"a smaller reduce_above (now {self.reduce_above}); or {GENERAL_FIX}"
                if self.reduce_above is not None else
                f"set reduce_above (e.g. 2000); or {GENERAL_FIX}")

    def _check_params(self) -> None:
        if self.kernel not in ("cosine", "rbf"):
            raise ValueError(f"kernel must be cosine or rbf, got {self.kernel!r}")
        if self.labels not in ("segment", "cluster"):
            raise ValueError(f"labels must be segment or cluster, got {self.labels!r}")
        if int(self.min_size) != self.min_size or self.min_size < 1:
            raise ValueError(f"min_size must be a positive integer, got {self.min_size!r}")
        if self.segment_factor < 1:
            raise ValueError(f"segment_factor must be >= 1, got {self.segment_factor}")
        if self.reduce_above is not None and self.reduce_above < 2:
            raise ValueError(f"reduce_above must be >= 2 or None, got {self.reduce_above}")

    def _segment(self, X: np.ndarray) -> tuple[np.ndarray, str]:
        import ruptures

        self._check_params()
        n, k = X.shape[0], int(self.n_clusters)
        x = X.astype(np.float64)
        m = self._n_rows(n)
        notes = []
        signal, groups = (reduce_nodes(x, m) if m < n else (x, np.arange(n)))
        min_size = int(self.min_size)
        if m < n:
            min_size = max(1, math.ceil(min_size * m / n))
            notes.append(f"N={n} rows > reduce_above={self.reduce_above}: change points "
                         f"searched on {m} means of contiguous blocks of "
                         f"{n // m}-{-(-n // m)} rows")
        wanted = self._n_segments_wanted()
        n_segments = min(wanted, m // min_size)
        if n_segments < wanted:
            notes.append(f"min_size={self.min_size} rows allows only {n_segments} segments "
                         f"of the {wanted} wanted")
        if self.kernel == "cosine":
            model = ruptures.KernelCPD(kernel="linear", min_size=min_size)
            signal = unit_rows(signal)
        else:
            params = None if self.gamma is None else {"gamma": float(self.gamma)}
            model = ruptures.KernelCPD(kernel="rbf", min_size=min_size, params=params)
        if n_segments >= 2:
            ends = model.fit(signal).predict(n_bkps=n_segments - 1)
            starts = np.asarray(ends[:-1], dtype=np.int64)
        else:
            starts = np.zeros(0, dtype=np.int64)
        seg_reduced = np.zeros(m, dtype=np.int64)
        seg_reduced[starts] = 1
        seg = expand_labels(np.cumsum(seg_reduced), groups)
        self.n_rows_clustered_ = m
        self.n_segments_ = int(seg[-1]) + 1
        self.change_points_ = np.flatnonzero(np.diff(seg)) + 1
        if self.labels == "segment" or self.n_segments_ <= 1:
            labels = seg
        else:
            n_seg = self.n_segments_
            sums = np.zeros((n_seg, x.shape[1]), dtype=np.float64)
            np.add.at(sums, seg, x)
            means = unit_rows(sums / np.bincount(seg, minlength=n_seg)[:, None])
            model_k = KMeans(n_clusters=min(k, n_seg), n_init=self.n_init,
                             random_state=self.random_state)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ConvergenceWarning)
                labels = model_k.fit_predict(means)[seg]
        labels = relabel_by_first_occurrence(labels)
        n_used = len(np.unique(labels))
        if n_used != k:
            notes.append(f"kcpd returned {n_used} labels for K={k}")
        return labels, "; ".join(notes)
