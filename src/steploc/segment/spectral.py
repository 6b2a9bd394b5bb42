"""Spectral clustering of node features with a cosine affinity (``docs/segmenters.md`` §1)."""

from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator, ClusterMixin
from sklearn.cluster import SpectralClustering


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


class SpectralStepSegmenter(ClusterMixin, BaseEstimator):
    """Spectral clustering on ``exp(cos / temperature)``, scikit-learn estimator style.

    ``assign_labels="auto"`` is what the original notebook did: k-means on the spectral
    embedding, or ``discretize`` below 3 clusters. ``random_state`` is fixed so runs repeat.
    """

    def __init__(self, n_clusters: int = 8, temperature: float = 0.05,
                 assign_labels: str = "auto", random_state: int = 42):
        self.n_clusters = n_clusters
        self.temperature = temperature
        self.assign_labels = assign_labels
        self.random_state = random_state

    def fit(self, X, y=None):
        X = np.asarray(X)
        if X.ndim != 2 or X.shape[0] < 2:
            raise ValueError(f"need a (n >= 2, d) feature matrix, got shape {X.shape}")
        if not 2 <= self.n_clusters <= X.shape[0]:
            raise ValueError(f"n_clusters={self.n_clusters} must be in [2, n_nodes={X.shape[0]}]")
        assign = self.assign_labels
        if assign == "auto":
            assign = "kmeans" if self.n_clusters >= 3 else "discretize"
        self.affinity_matrix_ = cosine_affinity(X, self.temperature)
        model = SpectralClustering(
            n_clusters=self.n_clusters,
            affinity="precomputed",
            assign_labels=assign,
            random_state=self.random_state,
        )
        self.labels_ = model.fit_predict(self.affinity_matrix_).astype(np.int64)
        return self
