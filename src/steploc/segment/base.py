"""What every segmenter shares: input checks, the memory check, labels and deviation notes.

A segmenter is a scikit-learn estimator (``ClusterMixin`` + ``BaseEstimator``): parameters in
``__init__`` (defaults from ``schemas/segmenters.schema.yaml``), ``fit(X)`` on the ``(N, D)``
node features of one video in temporal order, then

* ``labels_``: one int64 label per row;
* ``n_clusters_``: the number of distinct labels actually returned (the K used);
* ``note_``: ``""``, or a human-readable sentence when the method deviated from the request
  (fewer clusters than K, an automatic reduction of the rows, ...). It is also logged as a
  warning; nothing is changed silently.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, ClusterMixin
from sklearn.utils import check_array

from steploc.schema import SEGMENTERS_SCHEMA, load_schema
from steploc.segment.memory import GENERAL_FIX, check_memory

log = logging.getLogger(__name__)


def estimator_option_defaults() -> dict[str, Any]:
    """Defaults of the options every estimator takes besides its method parameters
    (``x-estimator-options`` in the segmenters schema: ``memory_limit_mb``)."""
    options = load_schema(SEGMENTERS_SCHEMA)["x-estimator-options"]
    return {name: spec["default"] for name, spec in options.items()}


_OPTIONS = estimator_option_defaults()
#: Default ``memory_limit_mb`` of every estimator (from the schema).
DEFAULT_MEMORY_LIMIT_MB = _OPTIONS["memory_limit_mb"]


def relabel_by_first_occurrence(labels) -> np.ndarray:
    """Rename labels to ``0, 1, ...`` in the order in which they first occur (int64)."""
    labels = np.asarray(labels)
    uniq, first, inverse = np.unique(labels, return_index=True, return_inverse=True)
    rank = np.empty(len(uniq), dtype=np.int64)
    rank[np.argsort(first, kind="stable")] = np.arange(len(uniq), dtype=np.int64)
    return rank[inverse.reshape(-1)]


def unit_rows(x: np.ndarray) -> np.ndarray:
    """Rows scaled to unit L2 norm; rows of (near) zero norm are left as they are (zero)."""
    norms = np.sqrt(np.einsum("ij,ij->i", x, x))
    norms[norms < 10 * np.finfo(norms.dtype).eps] = 1.0
    return x / norms[:, None]


class StepSegmenter(ClusterMixin, BaseEstimator):
    """Base class: subclasses define ``__init__`` (their parameters, ``n_clusters`` and
    ``memory_limit_mb``), :meth:`estimated_memory_bytes` and :meth:`_segment`."""

    #: Name of the method in the segmenters schema.
    method: str = ""
    n_clusters: int
    memory_limit_mb: float | None

    # ----------------------------------------------------------------------------- interface
    def estimated_memory_bytes(self, n_samples: int, n_features: int) -> int:
        """Upper estimate of the bytes ``fit`` allocates for an ``(n_samples, n_features)``
        input with the current parameters."""
        raise NotImplementedError

    def _segment(self, X: np.ndarray) -> tuple[np.ndarray, str]:
        """``(labels, note)`` for the checked input ``X`` (``note`` may be ``""``)."""
        raise NotImplementedError

    def _memory_fix(self) -> str:
        """What to change when the input is too large (method-specific advice first)."""
        return GENERAL_FIX

    # ----------------------------------------------------------------------------- shared
    def n_rows_to_cluster(self, n_samples: int) -> int:
        """Rows the method clusters: ``n_samples``, or, for a method with a ``reduce_above``
        parameter and more rows than that, ``max(reduce_above, K)`` block means."""
        reduce_above = getattr(self, "reduce_above", None)
        if reduce_above is None or n_samples <= reduce_above:
            return int(n_samples)
        return int(max(reduce_above, self.n_clusters))

    def _check_k(self, n_rows: int) -> None:
        k = self.n_clusters
        if isinstance(k, bool) or int(k) != k or not 2 <= k <= n_rows:
            raise ValueError(f"n_clusters={k!r} must be an integer in [2, n_nodes={n_rows}]")

    def fit(self, X, y=None):
        # Shape first, from the array-like's metadata only: a refusal allocates nothing.
        shape = np.shape(X)
        if len(shape) != 2 or shape[0] < 2:
            raise ValueError(f"need a (n >= 2, d) feature matrix, got shape {shape}")
        n, d = int(shape[0]), int(shape[1])
        self._check_k(n)
        check_memory(self.method, n, d, int(self.estimated_memory_bytes(n, d)),
                     self.memory_limit_mb, self._memory_fix())
        X = check_array(X, dtype=[np.float64, np.float32], ensure_min_samples=2)
        labels, note = self._segment(X)
        labels = np.asarray(labels, dtype=np.int64)
        if labels.shape != (n,):
            raise AssertionError(f"{self.method}: {labels.shape} labels for {n} rows")
        n_used = int(len(np.unique(labels)))
        if n_used != self.n_clusters and not note:
            note = (f"{self.method} returned {n_used} distinct labels instead of the "
                    f"K={self.n_clusters} requested")
        self.labels_ = labels
        self.n_clusters_ = n_used
        self.note_ = note
        if note:
            log.warning("%s: %s", self.method, note)
        return self

    def fit_predict(self, X, y=None, **kwargs):
        """Fit and return ``labels_`` (one int64 label per row)."""
        return self.fit(X).labels_
