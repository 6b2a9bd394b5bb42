"""Helpers of the segmenter tests: SYNTHETIC step sequences and partition comparison."""

from __future__ import annotations

import numpy as np

METHODS = ["spectral", "kmeans", "twfinch", "abd", "kcpd"]


def step_sequence(steps, lengths, dim=16, noise=0.1, seed=0, dtype=np.float32):
    """SYNTHETIC features: one random prototype per step id, ``lengths[i]`` noisy rows of
    step ``steps[i]`` after each other. Returns ``(X, truth)``."""
    rng = np.random.default_rng(seed)
    n_steps = max(steps) + 1
    protos = rng.standard_normal((n_steps, dim))
    protos /= np.linalg.norm(protos, axis=1, keepdims=True)
    truth = np.repeat(np.asarray(steps), lengths)
    x = protos[truth] + noise * rng.standard_normal((len(truth), dim)) / np.sqrt(dim)
    return x.astype(dtype), truth


def contingency(a, b) -> np.ndarray:
    ua, ia = np.unique(a, return_inverse=True)
    ub, ib = np.unique(b, return_inverse=True)
    table = np.zeros((len(ua), len(ub)), dtype=np.int64)
    np.add.at(table, (ia.ravel(), ib.ravel()), 1)
    return table


def same_partition(a, b) -> bool:
    """Equal up to a renaming of labels: exactly one non-zero per row and per column."""
    a, b = np.asarray(a), np.asarray(b)
    if a.shape != b.shape:
        return False
    nz = contingency(a, b) > 0
    return bool((nz.sum(axis=0) == 1).all() and (nz.sum(axis=1) == 1).all())


def matched_accuracy(pred, truth) -> float:
    """Fraction of rows whose label maps to the truth under the best one-to-one matching."""
    from scipy.optimize import linear_sum_assignment

    table = contingency(pred, truth)
    rows, cols = linear_sum_assignment(-table)
    return float(table[rows, cols].sum() / len(truth))
