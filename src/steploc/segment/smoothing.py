"""Temporal smoothing of a cluster-label sequence (``docs/segmenters.md`` §1.2).

Cluster ids are nominal, so the default is a mode (majority) filter; the notebook's median
filter is kept for comparison only: it sorts ids numerically and can return a label that is a
minority in the window (``[0, 0, 3, 7, 7]`` -> 3) and depends on how k-means numbered clusters.
"""

from __future__ import annotations

import numpy as np
from scipy.ndimage import median_filter

SMOOTHING_MODES = ("mode", "median", "none")


def _mode_pass(labels: np.ndarray, half: int) -> np.ndarray:
    n = len(labels)
    ids, codes = np.unique(labels, return_inverse=True)
    # Window counts of every label at every position from cumulative one-hot sums.
    onehot = np.zeros((n + 1, len(ids)), dtype=np.int64)
    onehot[np.arange(1, n + 1), codes] = 1
    cumulative = np.cumsum(onehot, axis=0)
    positions = np.arange(n)
    lo = np.maximum(positions - half, 0)
    hi = np.minimum(positions + half + 1, n)
    counts = cumulative[hi] - cumulative[lo]
    tied = counts == counts.max(axis=1, keepdims=True)
    out = codes.copy()
    undecided = ~tied[positions, codes]  # the current label is not among the most frequent
    # Otherwise: the tied label nearest the centre, earliest on equal distance
    # (offsets in the order -1, +1, -2, +2, ...).
    for distance in range(1, half + 1):
        for offset in (-distance, distance):
            j = positions + offset
            valid = undecided & (j >= 0) & (j < n)
            jj = np.clip(j, 0, n - 1)
            take = valid & tied[positions, codes[jj]]
            out[take] = codes[jj][take]
            undecided &= ~take
    return ids[out]


def mode_smooth(labels, window: int = 5, max_passes: int = 10) -> np.ndarray:
    """Majority filter over a centred window of odd size ``window``, truncated at the ends
    (no reflection), repeated until nothing changes (at most ``max_passes`` times).

    Ties keep the current label if it is among them, else take the tied label nearest the
    centre (the earlier one on equal distance). Invariant to relabelling the clusters.
    """
    labels = np.asarray(labels, dtype=np.int64)
    if window < 1 or window % 2 == 0:
        raise ValueError(f"window must be a positive odd number, got {window}")
    half = window // 2
    for _ in range(max_passes):
        smoothed = _mode_pass(labels, half)
        if np.array_equal(smoothed, labels):
            break
        labels = smoothed
    return labels


def median_smooth(labels, window: int = 5) -> np.ndarray:
    """``scipy.ndimage.median_filter(labels, size=window)``: the original notebook's filter."""
    return median_filter(np.asarray(labels, dtype=np.int64), size=window)


def smooth_labels(labels, mode: str = "mode", window: int = 5) -> np.ndarray:
    if mode == "mode":
        return mode_smooth(labels, window)
    if mode == "median":
        return median_smooth(labels, window)
    if mode == "none":
        return np.asarray(labels, dtype=np.int64).copy()
    raise ValueError(f"unknown smoothing {mode!r} (choose one of {SMOOTHING_MODES})")
