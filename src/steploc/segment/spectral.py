"""Spectral clustering of node features with a cosine affinity (``docs/segmenters.md`` §1, §7).

The affinity is dense (N x N), so the exact method costs Θ(N²) memory and, with the default
``arpack`` solver (shift-invert: a dense LU), Θ(N³) time: about 0.9 s at N = 2000 and 22 s at
N = 10,000 single-threaded. Above ``reduce_above`` rows (default 2000) the rows are therefore
first averaged in contiguous blocks down to ``reduce_above`` rows
(:func:`steploc.segment.reduce.reduce_nodes`), clustered, and every row gets the label of its
block; ``note_`` and ``n_rows_clustered_`` record it. Up to ``reduce_above`` rows the results
are those of the original recipe, bit for bit.
"""

from __future__ import annotations

import importlib.util

import numpy as np
from sklearn.cluster import SpectralClustering

from steploc.schema import segmenter_defaults
from steploc.segment.base import DEFAULT_MEMORY_LIMIT_MB, StepSegmenter
from steploc.segment.memory import GENERAL_FIX
from steploc.segment.reduce import expand_labels, reduce_nodes

_DEFAULTS = segmenter_defaults("spectral")

#: Dense N x N float64 arrays alive at the peak of an exact fit (the affinity, the Laplacian,
#: the LU copy of arpack's shift-invert and temporaries), measured by
#: ``bench/bench_segmenters.py`` and rounded up.
_DENSE_COPIES = 6


def cosine_affinity(x: np.ndarray, temperature: float) -> np.ndarray:
    """``exp(cos(x_i, x_j) / temperature)`` computed stably as ``exp((cos - 1) / temperature)``.

    The two differ by the constant factor ``e^{1/temperature}``, which cancels in the normalised
    Laplacian, so the clustering is the same; the shifted form lies in ``(0, 1]`` instead of
    overflowing float32 below ``temperature ~ 0.011`` (segmenters.md §1.3).
    """
    if temperature <= 0:
        raise ValueError(f"temperature must be positive, got {temperature}")
    x = np.asarray(x, dtype=np.float64)
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    unit = x / np.maximum(norms, 1e-12)
    cos = np.clip(unit @ unit.T, -1.0, 1.0)
    affinity = np.exp((cos - 1.0) / temperature)
    # Far pairs may underflow to 0 at tiny temperatures; a floor keeps the graph connected so
    # the Laplacian has a single zero eigenvalue.
    return np.maximum(affinity, 1e-300)


class SpectralStepSegmenter(StepSegmenter):
    """Spectral clustering on ``exp(cos / temperature)``, scikit-learn estimator style.

    Parameters (defaults from the segmenters schema): ``temperature`` (0.05);
    ``assign_labels`` (``auto``: k-means on the spectral embedding, or ``discretize`` below 3
    clusters, as the original notebook; ``kmeans``, ``discretize`` or ``cluster_qr``, the
    deterministic and fastest one); ``eigen_solver`` (``arpack``; ``lobpcg``; ``amg`` needs
    the optional package pyamg, else a ``ValueError``; on this dense affinity scikit-learn
    falls back from amg to arpack with a warning); ``random_state`` (42, so runs repeat);
    ``reduce_above`` (2000: more rows are block-averaged down to that many first, see the
    module docstring; ``None`` = always exact); ``memory_limit_mb`` (4000).

    Fitted: ``labels_``, ``n_clusters_``, ``note_``, ``affinity_matrix_`` (of the rows that
    were clustered) and ``n_rows_clustered_``.
    """

    method = "spectral"

    def __init__(self, n_clusters: int = 8, temperature: float = _DEFAULTS["temperature"],
                 assign_labels: str = _DEFAULTS["assign_labels"],
                 random_state: int = _DEFAULTS["random_state"],
                 eigen_solver: str = _DEFAULTS["eigen_solver"],
                 reduce_above: int | None = _DEFAULTS["reduce_above"],
                 memory_limit_mb: float | None = DEFAULT_MEMORY_LIMIT_MB):
        self.n_clusters = n_clusters
        self.temperature = temperature
        self.assign_labels = assign_labels
        self.random_state = random_state
        self.eigen_solver = eigen_solver
        self.reduce_above = reduce_above
        self.memory_limit_mb = memory_limit_mb

    def estimated_memory_bytes(self, n_samples: int, n_features: int) -> int:
        m = self.n_rows_to_cluster(n_samples)
        rows = 8 * n_features * (2 * n_samples + 2 * m)  # float64 copies of X and of the means
        return int(_DENSE_COPIES * 8 * m * m + rows + 64 * n_samples)

    def _memory_fix(self) -> str:
        advice = ("set reduce_above (e.g. 2000) so that spectral clusters block means"
                  if self.reduce_above is None else
                  f"a smaller reduce_above (now {self.reduce_above})")
        return f"{advice}; or {GENERAL_FIX} (abd, twfinch and kmeans need O(N·D) memory)"

    def _check_params(self) -> str:
        if self.eigen_solver not in ("arpack", "lobpcg", "amg"):
            raise ValueError(f"eigen_solver must be arpack, lobpcg or amg, got "
                             f"{self.eigen_solver!r}")
        if self.eigen_solver == "amg" and importlib.util.find_spec("pyamg") is None:
            raise ValueError("eigen_solver='amg' needs the optional package pyamg, which is not "
                             "installed (pip install pyamg); or use eigen_solver arpack or lobpcg")
        assign = self.assign_labels
        if assign == "auto":
            assign = "kmeans" if self.n_clusters >= 3 else "discretize"
        if assign not in ("kmeans", "discretize", "cluster_qr"):
            raise ValueError(f"assign_labels must be auto, kmeans, discretize or cluster_qr, "
                             f"got {self.assign_labels!r}")
        if self.reduce_above is not None and self.reduce_above < 2:
            raise ValueError(f"reduce_above must be >= 2 or None, got {self.reduce_above}")
        return assign

    def _segment(self, X: np.ndarray) -> tuple[np.ndarray, str]:
        assign = self._check_params()
        n = X.shape[0]
        m = self.n_rows_to_cluster(n)
        note = ""
        groups = None
        if m < n:
            X, groups = reduce_nodes(X, m)
            sizes = np.bincount(groups)
            size_text = (f"{sizes.min()}" if sizes.min() == sizes.max()
                         else f"{sizes.min()}-{sizes.max()}")
            note = (f"N={n} rows > reduce_above={self.reduce_above}: spectral clustered {m} "
                    f"means of contiguous blocks of {size_text} rows (each row gets its "
                    f"block's label)")
        self.n_rows_clustered_ = m
        self.affinity_matrix_ = cosine_affinity(X, self.temperature)
        model = SpectralClustering(
            n_clusters=self.n_clusters,
            affinity="precomputed",
            assign_labels=assign,
            random_state=self.random_state,
            eigen_solver=self.eigen_solver,
        )
        labels = model.fit_predict(self.affinity_matrix_).astype(np.int64)
        if groups is not None:
            labels = expand_labels(labels, groups)
        n_used = len(np.unique(labels))
        if n_used != self.n_clusters:
            note = "; ".join(filter(None, [note, (
                f"spectral returned {n_used} distinct labels instead of the K="
                f"{self.n_clusters} requested (assign_labels={assign})")]))
        return labels, note
